"""Reading tensor files without torch: safetensors and PyTorch's zip pickle format.

Only tensors are ever read. ``read_torch_zip`` reads the format ``torch.save`` writes (a zip
archive with ``data.pkl`` and one raw file per storage) through a restricted unpickler that knows
exactly the names a state dict needs (tensor rebuild functions, storage types, OrderedDict) and
refuses every other global, so a checkpoint cannot run code when it is read; plain Python
containers and numbers (an epoch counter, a name) pass through.
"""

from __future__ import annotations

import collections
import os
import pickle
import zipfile

import ml_dtypes
import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class NotATensorFileError(ValueError):
    """The file holds something other than plain tensors (code, objects) or is not a checkpoint."""


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, meta=None):
    del requires_grad, hooks, meta
    itemsize = storage.dtype.itemsize
    if not size:
        return storage[offset].copy().reshape(())
    view = np.ndarray(tuple(size), storage.dtype, storage, offset * itemsize,
                      tuple(s * itemsize for s in stride))
    return np.array(view)  # own, contiguous copy


def _rebuild_parameter(data, requires_grad=False, hooks=None, *state):
    del requires_grad, hooks, state
    return data


class _TensorOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, read_storage):
        super().__init__(file)
        self._read_storage = read_storage
        self._storages = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise NotATensorFileError(
            f"refusing to unpickle {module}.{name}: only tensors, OrderedDict and plain Python "
            "values are read from PyTorch files"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise NotATensorFileError(f"unsupported persistent id {pid!r} in PyTorch file")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise NotATensorFileError(f"unsupported storage type {storage_type!r}")
        if key not in self._storages:
            raw = self._read_storage(key)
            self._storages[key] = np.frombuffer(raw, dtype=storage_type.dtype)
        return self._storages[key]


def read_torch_zip(path: str | os.PathLike):
    """Reads a ``torch.save`` file (zip format, torch >= 1.6) -> its object with numpy arrays."""
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":  # a zip whose end (the directory) is missing
                raise ValueError(f"{path} is truncated or corrupt ({os.path.getsize(path)} "
                                 "bytes): the zip directory at its end is missing")
        raise NotATensorFileError(
            f"{path} is not a zip-format PyTorch file (legacy torch<1.6 pickles are not read); "
            "re-save it with torch.save(state_dict, path) or convert it to safetensors"
        )
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise NotATensorFileError(f"{path} has no single data.pkl: not a torch.save file")
        prefix = pkls[0][: -len("data.pkl")]
        if any(n.startswith(prefix + "code/") for n in names):
            raise NotATensorFileError(
                f"{path} is a TorchScript archive (it holds code); load it with torch.jit.load and "
                "save model.state_dict() with torch.save, or use safetensors"
            )
        byteorder = prefix + "byteorder"
        if byteorder in names and zf.read(byteorder).decode().strip() != "little":
            raise NotATensorFileError(f"{path} is big-endian; only little-endian files are read")
        read_storage = lambda key: zf.read(f"{prefix}data/{key}")
        with zf.open(pkls[0]) as f:
            return _TensorOnlyUnpickler(f, read_storage).load()


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a .safetensors file -> {name: numpy array} (bfloat16 as ml_dtypes.bfloat16)."""
    from safetensors import SafetensorError, safe_open

    out = {}
    try:
        with safe_open(os.fspath(path), framework="flax") as f:
            for key in f.keys():
                out[key] = np.asarray(f.get_tensor(key))
    except (SafetensorError, OSError) as e:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        raise ValueError(f"{os.fspath(path)} is truncated or corrupt ({size} bytes; "
                         f"safetensors: {e})") from None
    return out


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a flat {name: array} state dict from .safetensors or a torch.save file.

    OpenCLIP training checkpoints ({"state_dict": ..., "epoch": ...}) are unwrapped and the
    ``module.`` prefix of DistributedDataParallel is removed.
    """
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        state = read_safetensors(path)
    else:
        state = read_torch_zip(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise NotATensorFileError(f"{path} holds a {type(state).__name__}, not a state dict")
    flat = {}
    for key, value in state.items():
        key = key[len("module."):] if key.startswith("module.") else key
        flat[key] = value
    return flat
