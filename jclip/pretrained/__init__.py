"""Pretrained weights: ``load`` / ``save`` / ``download`` / ``list_pretrained``.

``jclip.pretrained.load`` reads a hub id, a local folder or a state-dict file into
``(CLIPModel, params)``; ``save`` writes jclip's msgpack format or a Hugging Face folder;
``load_tokenizer`` reads the tokenizer a model folder carries (``tokenizers``); ``hub``
lists the known hub checkpoints; ``hf`` and ``openclip`` hold the two PyTorch layouts (config
parsing and key maps built from ``keymaps``), ``tensors`` the tensor-only reader of torch /
safetensors files.
"""

from jclip._lazy import package_face
from jclip.pretrained.hub import PretrainedInfo, list_pretrained
from jclip.pretrained.load import download, load
from jclip.pretrained.save import save
from jclip.pretrained.tokenizers import load_tokenizer, write_tokenizer

__all__ = ["PretrainedInfo", "download", "list_pretrained", "load", "load_tokenizer", "save",
           "write_tokenizer"]

__getattr__, __dir__ = package_face(__name__, __path__)  # every submodule, lazily
