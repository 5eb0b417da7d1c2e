"""``list_pretrained``: the Hugging Face hub checkpoints jclip knows, with their presets.

Every repo listed holds a transformers CLIPModel / SiglipModel folder (config.json + weights),
so ``jclip.load(hub_id)`` reads it and gets the architecture from its config.json; ``arch`` is
the jclip preset that config describes (the activation included: the OpenAI and MetaCLIP
configs say quick_gelu, the LAION / DataComp ones gelu; SigLIP uses the tanh GELU), so
``jclip.create_model(arch)`` builds the same model at random init.
"""

from __future__ import annotations

import dataclasses

from jclip.models.configs import PRESETS


@dataclasses.dataclass(frozen=True)
class PretrainedInfo:
    """A known hub checkpoint.

    id: the hub repo id for ``jclip.load``; arch: the jclip preset (``jclip.PRESETS``);
    family: who trained it on what ("openai", "laion2b", "datacomp", "metaclip", "siglip");
    format: the checkpoint layout jclip reads from the repo ("hf": transformers' folder).
    """

    id: str
    arch: str
    family: str
    format: str = "hf"


_KNOWN = (
    # OpenAI CLIP (Radford et al., 2021): QuickGELU.
    ("openai/clip-vit-base-patch32", "ViT-B-32-quickgelu", "openai"),
    ("openai/clip-vit-base-patch16", "ViT-B-16-quickgelu", "openai"),
    ("openai/clip-vit-large-patch14", "ViT-L-14-quickgelu", "openai"),
    ("openai/clip-vit-large-patch14-336", "ViT-L-14-336-quickgelu", "openai"),
    # OpenCLIP on LAION-2B (Cherti et al., 2023): GELU.
    ("laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "ViT-B-32", "laion2b"),
    ("laion/CLIP-ViT-B-16-laion2B-s34B-b88K", "ViT-B-16", "laion2b"),
    ("laion/CLIP-ViT-L-14-laion2B-s32B-b82K", "ViT-L-14", "laion2b"),
    ("laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "ViT-H-14", "laion2b"),
    ("laion/CLIP-ViT-g-14-laion2B-s12B-b42K", "ViT-g-14", "laion2b"),
    ("laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", "ViT-bigG-14", "laion2b"),
    # OpenCLIP on DataComp-1B (Gadre et al., 2023): GELU.
    ("laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K", "ViT-B-32", "datacomp"),
    ("laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K", "ViT-B-16", "datacomp"),
    ("laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K", "ViT-L-14", "datacomp"),
    # MetaCLIP (Xu et al., 2024): QuickGELU.
    ("facebook/metaclip-b32-400m", "ViT-B-32-quickgelu", "metaclip"),
    ("facebook/metaclip-b16-fullcc2.5b", "ViT-B-16-quickgelu", "metaclip"),
    ("facebook/metaclip-l14-fullcc2.5b", "ViT-L-14-quickgelu", "metaclip"),
    ("facebook/metaclip-h14-fullcc2.5b", "ViT-H-14-quickgelu", "metaclip"),
    # SigLIP (Zhai et al., 2023): tanh GELU, LayerNorm eps 1e-6.
    ("google/siglip-base-patch16-224", "siglip-base-patch16-224", "siglip"),
    ("google/siglip-base-patch16-256", "siglip-base-patch16-256", "siglip"),
    ("google/siglip-base-patch16-384", "siglip-base-patch16-384", "siglip"),
    ("google/siglip-large-patch16-256", "siglip-large-patch16-256", "siglip"),
    ("google/siglip-so400m-patch14-384", "siglip-so400m-patch14-384", "siglip"),
)

PRETRAINED: tuple[PretrainedInfo, ...] = tuple(PretrainedInfo(*row) for row in _KNOWN)
FAMILIES = tuple(dict.fromkeys(info.family for info in PRETRAINED))


def list_pretrained(family: str | None = None) -> list[PretrainedInfo]:
    """The known hub checkpoints, optionally of one ``family`` (see ``FAMILIES``).

    Example: ``[p.id for p in jclip.list_pretrained("siglip")]``; each ``p.arch`` is a key of
    ``jclip.PRESETS``.
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    return [p for p in PRETRAINED if family is None or p.family == family]


def _check_table() -> None:
    missing = [p.arch for p in PRETRAINED if p.arch not in PRESETS]
    if missing:  # a bug in the table above
        raise AssertionError(f"list_pretrained names unknown presets {missing}")


_check_table()
