"""Pretrained weights: ``load`` / ``save`` / ``download`` for HF, OpenCLIP / OpenAI and jclip files.

``jclip.pretrained.load`` reads a hub id, a local folder or a state-dict file into
``(CLIPModel, params)``; ``hf`` and ``openclip`` hold the two PyTorch layouts (config parsing and
key maps built from ``keymaps``), ``tensors`` the tensor-only reader of torch / safetensors files.
"""

from jclip.pretrained.load import download, load, save

__all__ = ["download", "load", "save"]
