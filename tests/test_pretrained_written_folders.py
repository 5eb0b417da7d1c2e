"""Model folders as the installed libraries write them today, not committed fixtures.

A tiny transformers CLIPModel (with CLIPTokenizer, whose ``save_pretrained`` now writes the fast
``tokenizer.json``) and a tiny SiglipModel (with a SentencePiece SiglipTokenizer trained here) are
saved with their processors by the installed transformers, then read by ``jclip.load`` /
``jclip.load_tokenizer`` (outputs and token ids equal transformers'), evaluated by ``jclip-eval``
(classification, retrieval, adversarial) and fine-tuned by the trainer with ``init_from``. A new
transformers release that changes what it writes fails here.
"""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jclip
from jclip.evals import cli
from jclip.tokenizer import HFTokenizer, Tokenizer
from jclip.train import config as config_lib
from jclip.train import loop
from tests.helpers.files import photo_crops, write, write_eval_pairs

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIXED = os.path.join(ROOT, "tests", "fixtures", "models", "hf_clip_mixed")  # tiny CLIP BPE files
IMAGE, CONTEXT = 32, 16
TEXTS = ["a photo of a cat.", "Two RED squares, 3 circles!", "a rocket", "café au lait"]
SIGLIP_CORPUS = ["a photo of a " + w for w in
                 "cat dog rocket mug coffee astronaut woman lynx snow leopard red blue green "
                 "two three circles squares drink space suit hot".split()]


def _perturb(model, seed):
    """Weights far from init so that every weight moves the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(1.0 + noise) if "norm" in name and name.endswith("weight") else p.add_(noise)


def _clip_folder(folder):
    tokenizer = transformers.CLIPTokenizer.from_pretrained(MIXED, model_max_length=CONTEXT)
    vocab = len(tokenizer)
    text = dict(vocab_size=vocab, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=CONTEXT, hidden_act="quick_gelu",
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=IMAGE, patch_size=8, hidden_act="quick_gelu")
    torch.manual_seed(0)
    model = transformers.CLIPModel(transformers.CLIPConfig(
        text_config=text, vision_config=vision, projection_dim=24)).eval()
    _perturb(model, 0)
    processor = transformers.CLIPProcessor(
        image_processor=transformers.CLIPImageProcessor(
            size={"shortest_edge": IMAGE}, crop_size={"height": IMAGE, "width": IMAGE}),
        tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, tokenizer


def _siglip_folder(folder):
    import sentencepiece

    spm = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(SIGLIP_CORPUS * 10), model_writer=spm, vocab_size=64,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False,
        character_coverage=1.0, minloglevel=2)
    spm_path = os.path.join(os.path.dirname(folder), "spiece.model")
    with open(spm_path, "wb") as f:
        f.write(spm.getvalue())
    tokenizer = transformers.SiglipTokenizer(vocab_file=spm_path, model_max_length=CONTEXT)
    text = dict(vocab_size=len(tokenizer), hidden_size=24, intermediate_size=40,
                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=CONTEXT,
                hidden_act="gelu_pytorch_tanh", projection_size=32,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  image_size=IMAGE, patch_size=8, hidden_act="gelu_pytorch_tanh")
    torch.manual_seed(1)
    model = transformers.SiglipModel(transformers.SiglipConfig(
        text_config=text, vision_config=vision)).eval()
    _perturb(model, 1)
    processor = transformers.SiglipProcessor(
        image_processor=transformers.SiglipImageProcessor(size={"height": IMAGE, "width": IMAGE}),
        tokenizer=tokenizer)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, tokenizer


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{"clip": (folder, torch model, HF tokenizer), "siglip": (...)} written by transformers."""
    out = {}
    for kind, make in (("clip", _clip_folder), ("siglip", _siglip_folder)):
        folder = str(tmp_path_factory.mktemp(kind) / f"hf_{kind}")
        out[kind] = (folder, *make(folder))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Real photographs: a class folder and a captioned pairs folder."""
    root = tmp_path_factory.mktemp("data")
    for i, im in enumerate(photo_crops()[:6]):
        write(str(root / "classes" / "test" / ("rocket" if i % 2 else "coffee mug") / f"{i}.png"),
              im)
    write_eval_pairs(root / "pairs")
    return root


def _hf_ids(hf_tokenizer, texts):
    ids = hf_tokenizer(texts, padding="max_length", truncation=True, max_length=CONTEXT)
    return np.asarray(ids["input_ids"], np.int32)


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_load_reads_the_folder_and_its_tokenizer_as_transformers_does(written, kind):
    folder, torch_model, hf_tokenizer = written[kind]
    names = set(os.listdir(folder))
    assert {"config.json", "model.safetensors"} <= names
    assert names & {"processor_config.json", "preprocessor_config.json"}  # 5.x: the former
    if kind == "clip":  # what today's CLIPTokenizer writes: the fast format only
        assert "tokenizer.json" in names and "vocab.json" not in names

    model, params = jclip.load(folder)
    tokenizer = jclip.load_tokenizer(folder, context_length=model.config.context_length)
    assert isinstance(tokenizer, Tokenizer if kind == "clip" else HFTokenizer)
    ours, theirs = tokenizer(TEXTS), _hf_ids(hf_tokenizer, TEXTS)
    if kind == "clip":  # jclip pads with 0, transformers' CLIP with the end token
        for a, b in zip(ours, theirs):
            end = int(np.argmax(b == hf_tokenizer.eos_token_id))
            np.testing.assert_array_equal(a[: end + 1], b[: end + 1])
            assert (a[end + 1:] == 0).all()
    else:
        np.testing.assert_array_equal(ours, theirs)

    pixels = np.random.default_rng(0).normal(size=(2, IMAGE, IMAGE, 3)).astype(np.float32)
    with torch.no_grad():
        ref_img = torch_model.get_image_features(
            pixel_values=torch.from_numpy(pixels).permute(0, 3, 1, 2)).pooler_output.numpy()
        ref_txt = torch_model.get_text_features(
            input_ids=torch.from_numpy(theirs.astype(np.int64))).pooler_output.numpy()
    variables = {"params": params}
    np.testing.assert_allclose(model.apply(variables, pixels, method="encode_image"),
                               ref_img, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(model.apply(variables, ours, method="encode_text"),
                               ref_txt, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_jclip_eval_runs_classification_retrieval_and_attacks(written, data, kind, tmp_path):
    folder = written[kind][0]
    out = str(tmp_path / "{task}_{dataset}.json")
    common = ["--model", folder, "--output", out, "--batch_size", "4", "--quiet"]
    assert cli.main([*common, "--dataset", f"folder:{data / 'classes'}",
                     f"pairs:{data / 'pairs'}", "--task", "auto"]) == 0
    assert cli.main([*common, "--dataset", f"folder:{data / 'classes'}", "--attack", "pgd",
                     "--eps", "4", "--steps", "2"]) == 0
    results = {}
    for name in os.listdir(tmp_path):
        result = json.loads((tmp_path / name).read_text())
        results[result["task"]] = result
    assert set(results) == {"zeroshot_classification", "zeroshot_retrieval", "adversarial"}
    assert results["zeroshot_classification"]["num_examples"] == 6
    assert 0.0 <= results["zeroshot_retrieval"]["metrics"]["image_retrieval_recall@1"] <= 1.0
    adv = results["adversarial"]["metrics"]
    clean = results["zeroshot_classification"]["metrics"]["acc1"]
    assert adv["robust_acc1"] <= adv["clean_acc1"] == pytest.approx(clean)


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_trainer_fine_tunes_from_the_folder_with_its_tokenizer(written, kind, tmp_path):
    folder = written[kind][0]
    config = config_lib.load_config(os.path.join(ROOT, "experiments/configs/shapes_micro.py"))
    for key, value in dict(init_from=folder, tokenizer="from_init", total_steps=2,
                           checkpoint_every=0, tensorboard=False, batch_size=8,
                           **{"optim.warmup_steps": 1}).items():
        config_lib.apply_override(config, key, str(value))
    config.model.overrides = {}
    config.model.context_length = CONTEXT
    config.evals = {}
    if kind == "siglip":
        config.loss.name = "siglip"
    trainer = loop.train(config, str(tmp_path / "run"))
    assert int(trainer.state["step"]) == 2
    # The saved model carries the init folder's tokenizer in Hugging Face's files.
    saved = tmp_path / "run" / "model"
    assert not (saved / "jclip_tokenizer.json").exists()
    model, _ = jclip.load(str(saved))
    again = jclip.load_tokenizer(str(saved), context_length=model.config.context_length)
    first = jclip.load_tokenizer(folder, context_length=model.config.context_length)
    np.testing.assert_array_equal(again(TEXTS), first(TEXTS))
    assert model.config == jclip.load(folder)[0].config


def test_transformers_imports_from_the_repository_root():
    # The registry's package named `kernels` (transformers requires it) must not be shadowed by
    # a folder of this repository when the root is on sys.path (python -m, pytest, notebooks).
    assert not os.path.exists(os.path.join(ROOT, "kernels", "__init__.py"))
    code = ("import sys; sys.path.insert(0, '.'); from transformers import CLIPModel; "
            "import jclip.kernels; print(jclip.kernels.__name__)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "jclip.kernels"
