"""jclip.load_tokenizer / write_tokenizer: jclip_tokenizer.json, folders of earlier versions
(their description under the name tokenizer.json, recognised by content), Hugging Face files
always read as Hugging Face's, the order of precedence and the errors."""

import json
import os
import shutil

import numpy as np
import pytest

import jclip
from jclip.pretrained import tokenizers
from jclip.tokenizer import Tokenizer, WordTokenizer
from tests.helpers.models import tiny_model

MIXED = os.path.join(os.path.dirname(__file__), "fixtures", "models", "hf_clip_mixed")
TEXTS = ["a red circle", "two blue squares ."]


def test_save_writes_the_word_tokenizer_under_its_own_name(tmp_path):
    model, params, tok = tiny_model()
    jclip.save(tmp_path, model, params, tokenizer=tok)
    assert (tmp_path / tokenizers.JCLIP_TOKENIZER).is_file()
    assert not (tmp_path / "tokenizer.json").exists()  # Hugging Face's name stays free
    spec = json.loads((tmp_path / tokenizers.JCLIP_TOKENIZER).read_text())
    assert spec["format"] == "jclip-tokenizer" and spec["type"] == "word"
    again = jclip.load_tokenizer(tmp_path)
    assert isinstance(again, WordTokenizer) and again.context_length == tok.context_length
    np.testing.assert_array_equal(again(TEXTS), tok(TEXTS))


def test_folders_of_earlier_versions_still_load(tmp_path):
    _, _, tok = tiny_model()
    legacy = {"type": "word", "words": list(tok.encoder), "context_length": tok.context_length}
    (tmp_path / "tokenizer.json").write_text(json.dumps(legacy))
    again = jclip.load_tokenizer(tmp_path)
    np.testing.assert_array_equal(again(TEXTS), tok(TEXTS))
    # A description pointing at another tokenizer source (the trainer wrote it for BPE runs).
    other = tmp_path / "bpe"
    other.mkdir()
    (other / "tokenizer.json").write_text(json.dumps({"type": "pretrained", "source": MIXED}))
    bpe = jclip.load_tokenizer(other, context_length=16)
    np.testing.assert_array_equal(bpe(TEXTS), Tokenizer.from_pretrained(MIXED)(TEXTS))
    # Read directly as a Hugging Face folder, the old file is named for what it is.
    with pytest.raises(ValueError, match="jclip tokenizer description.*jclip.load_tokenizer"):
        Tokenizer.from_pretrained(tmp_path)


def test_hugging_face_tokenizer_json_is_read_as_hugging_faces(tmp_path):
    transformers = pytest.importorskip("transformers")
    hf = transformers.CLIPTokenizer.from_pretrained(MIXED)
    hf.save_pretrained(tmp_path)  # today: tokenizer.json + tokenizer_config.json
    assert (tmp_path / "tokenizer.json").is_file()
    tok = jclip.load_tokenizer(tmp_path, context_length=16)
    assert isinstance(tok, Tokenizer) and tok.vocab_size == len(hf)
    np.testing.assert_array_equal(tok(TEXTS), Tokenizer.from_pretrained(MIXED, 16)(TEXTS))


def test_precedence_explicit_then_jclip_then_hugging_face(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(MIXED, folder)
    assert isinstance(jclip.load_tokenizer(folder), Tokenizer)  # the folder's BPE files
    _, _, word = tiny_model()
    tokenizers.write_tokenizer(folder, word)
    assert isinstance(jclip.load_tokenizer(folder), WordTokenizer)  # jclip's description wins
    assert isinstance(jclip.load_tokenizer(folder, tokenizer=MIXED), Tokenizer)  # explicit wins
    # A weights file stands for its folder.
    assert isinstance(jclip.load_tokenizer(folder / "model.safetensors"), WordTokenizer)


@pytest.mark.parametrize("content, match", [
    ('{"type": "word", "wor', "truncated or corrupt"),
    ('{"type": "bpe"}', "not a jclip tokenizer description"),
    ('{"type": "word", "words": []}', "non-empty 'words' list"),
    ('{"type": "word", "words": ["cat"]}', "needs 'context_length'"),
    ('{"type": "pretrained", "source": "None"}', "needs a 'source'"),
])
def test_bad_descriptions_name_the_problem(tmp_path, content, match):
    (tmp_path / tokenizers.JCLIP_TOKENIZER).write_text(content)
    with pytest.raises(ValueError, match=match):
        jclip.load_tokenizer(tmp_path)


def test_no_tokenizer_says_what_to_pass(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no tokenizer found.*tokenizer="):
        jclip.load_tokenizer(tmp_path)


def test_write_tokenizer_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot save a tokenizer of type dict"):
        tokenizers.write_tokenizer(tmp_path, {})
