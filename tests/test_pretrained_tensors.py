"""The tensor-only readers: PyTorch zip pickles (without torch) and safetensors."""

import collections
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from jclip.pretrained.tensors import NotATensorFileError, read_state_dict, read_torch_zip

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "models")


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_refuses_pickled_code(tmp_path):
    path = _zip(tmp_path / "evil.pt", {"archive/data.pkl": pickle.dumps({"w": _RunsCode()}, 2)})
    with pytest.raises(NotATensorFileError, match="refusing to unpickle"):
        read_torch_zip(path)


def test_refuses_torchscript_legacy_and_non_checkpoints(tmp_path):
    script = _zip(tmp_path / "model.pt", {"archive/data.pkl": pickle.dumps({}, 2),
                                          "archive/code/__torch__.py": b""})
    with pytest.raises(NotATensorFileError, match="TorchScript"):
        read_torch_zip(script)
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"w": 1}, 2))
    with pytest.raises(NotATensorFileError, match="not a zip-format"):
        read_torch_zip(legacy)
    other = _zip(tmp_path / "other.zip", {"readme.txt": b"hello"})
    with pytest.raises(NotATensorFileError, match="no single data.pkl"):
        read_torch_zip(other)
    listing = _zip(tmp_path / "list.pt", {"archive/data.pkl": pickle.dumps([1, 2], 2)})
    with pytest.raises(NotATensorFileError, match="not a state dict"):
        read_state_dict(listing)


def test_reads_fixture_bin_like_safetensors():
    state = read_state_dict(os.path.join(FIXTURES, "hf_clip_gelu", "pytorch_model.bin"))
    assert state["logit_scale"].shape == () and state["logit_scale"].dtype == np.float32
    w = state["vision_model.embeddings.patch_embedding.weight"]
    assert w.shape == (32, 3, 8, 8) and np.isfinite(w).all()
    safe = read_state_dict(os.path.join(FIXTURES, "openclip", "open_clip_model.safetensors"))
    openai = read_state_dict(os.path.join(FIXTURES, "openai_state_dict.pt"))
    assert int(openai.pop("input_resolution")) == 32
    assert set(openai) - {"context_length", "vocab_size"} == set(safe)
    for key, value in safe.items():
        np.testing.assert_array_equal(openai[key], value)


def test_matches_torch_load(tmp_path):
    torch = pytest.importorskip("torch", reason="torch not installed: parity with torch.load")
    gen = torch.Generator().manual_seed(0)
    state = collections.OrderedDict(
        f32=torch.randn(3, 4, generator=gen), transposed=torch.randn(4, 3, generator=gen).t(),
        sliced=torch.arange(20.0)[3:15:2], f16=torch.randn(5, generator=gen).half(),
        bf16=torch.randn(5, generator=gen).bfloat16(), i64=torch.arange(6).reshape(2, 3),
        scalar=torch.tensor(2.5), param=torch.nn.Parameter(torch.randn(2, 2, generator=gen)),
    )
    state["shared_view"] = state["f32"][1]  # shares the f32 storage
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "epoch": 3}, path)
    got = read_state_dict(path)
    assert set(got) == set(state)
    for key, value in state.items():
        ref = value.detach().float().numpy()
        np.testing.assert_array_equal(np.asarray(got[key]).astype(np.float32), ref, err_msg=key)
        assert got[key].shape == tuple(value.shape)
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)  # an in-memory archive reads the same way
    (tmp_path / "mem.pt").write_bytes(buf.getvalue())
    np.testing.assert_array_equal(read_torch_zip(tmp_path / "mem.pt")["w"], np.ones(2))
