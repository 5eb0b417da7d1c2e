"""Image preprocessing of CLIP and SigLIP: uint8 images -> normalised float32 NHWC pixels.

Reproduces transformers' ``CLIPImageProcessor`` and ``SiglipImageProcessor`` (their PIL
backend, which is the one that needs no torch), step by step:

1. to RGB: grayscale is repeated over 3 channels; an alpha channel is composited onto white
   (PIL images with ``Image.alpha_composite``, arrays as
   ``round(a/255 * rgb + (1 - a/255) * 255)``);
2. resize with PIL bicubic: CLIP resizes the shortest side to ``image_size`` (the other side
   ``int(image_size * long / short)``) and centre-crops ``image_size`` x ``image_size``
   (offsets ``(H - S) // 2``, ``(W - S) // 2``); SigLIP resizes straight to
   ``image_size`` x ``image_size``;
3. ``x = float32(float64(uint8) * (1/255))``, then ``(x - mean) / std`` in float32, with the
   OpenAI CLIP mean / std (Radford et al., 2021) or mean = std = 0.5 for SigLIP
   (Zhai et al., 2023).

The model's config decides which: ``config.kind`` ("clip" / "siglip") and ``config.image_size``.
The OpenAI / OpenCLIP torchvision pipeline places its centre crop at ``round((H - S) / 2)``
(round half to even) rather than ``(H - S) // 2``, so when ``H - S = 3 (mod 4)`` its crop sits
one pixel further; jclip follows transformers.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from jclip.models.configs import ModelConfig, get_config

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)


def mean_std(config: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std), float32 [3] each, of the pixels the model was trained on."""
    if config.kind == "siglip":
        return np.float32(SIGLIP_MEAN), np.float32(SIGLIP_STD)
    if config.kind == "clip":
        return np.float32(OPENAI_CLIP_MEAN), np.float32(OPENAI_CLIP_STD)
    raise ValueError(f"Unknown model kind {config.kind!r}; expected 'clip' or 'siglip'")


def preprocess(images, name_or_config: str | ModelConfig) -> np.ndarray:
    """Resizes, crops and normalises images for the model ``name_or_config``.

    Args:
      images: one image (a PIL image of any mode, or a uint8 array [H, W], [H, W, C] with C in
        1 / 3 / 4, channels last), a list of such images of any sizes, or a uint8 batch
        [N, H, W, C].
      name_or_config: a preset name (``"ViT-B-32"``) or a ``jclip.ModelConfig``.
    Returns:
      float32 numpy array [N, S, S, 3], S = config.image_size (N = 1 for a single image).
    """
    config = get_config(name_or_config)
    batch = _as_image_list(images)
    out = np.empty((len(batch), config.image_size, config.image_size, 3), np.float32)
    for i, image in enumerate(batch):
        out[i] = _rescale_normalize(_resize_crop(_to_rgb(image, i), config), config)
    return out


def normalize(images, config: str | ModelConfig):
    """Rescales and normalises uint8 images that already have the model's size (no resize).

    Args:
      images: uint8 [N, S, S, 3] (numpy, or a jax array, also under ``jax.jit``).
      config: a preset name or ``jclip.ModelConfig``; S must equal ``config.image_size``.
    Returns:
      float32 [N, S, S, 3], numpy for numpy input (bit-identical to ``preprocess``), else jax.
    """
    config = get_config(config)
    shape, dtype = getattr(images, "shape", None), getattr(images, "dtype", None)
    if shape is None or dtype is None:
        raise TypeError(f"Expected a uint8 array [N, H, W, 3], got {type(images).__name__}")
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"Expected uint8 images [N, H, W, 3] (RGB, channels last), got shape "
                         f"{tuple(shape)}; use jclip.preprocess for other layouts")
    if np.dtype(dtype) != np.uint8:
        raise TypeError(f"Expected uint8 pixels in [0, 255], got dtype {np.dtype(dtype)}")
    if tuple(shape[1:3]) != (config.image_size,) * 2:
        raise ValueError(
            f"Expected images of {config.image_size}x{config.image_size} for this model, got "
            f"{shape[1]}x{shape[2]}; use jclip.preprocess to resize"
        )
    if isinstance(images, np.ndarray):
        return _rescale_normalize(images, config)
    import jax.numpy as jnp

    mean, std = mean_std(config)
    return (jnp.asarray(images, jnp.float32) * np.float32(1 / 255) - mean) / std


def _rescale_normalize(pixels: np.ndarray, config: ModelConfig) -> np.ndarray:
    mean, std = mean_std(config)
    x = (pixels.astype(np.float64) * (1 / 255)).astype(np.float32)
    return (x - mean) / std


def resized_shape(height: int, width: int, config: ModelConfig) -> tuple[int, int]:
    """(height, width) after the resize step, before the centre crop."""
    size = config.image_size
    if config.kind == "siglip":
        return size, size
    short, long = min(height, width), max(height, width)
    long = int(size * long / short)  # truncation, as torchvision and transformers do
    return (long, size) if width <= height else (size, long)


def _resize_crop(rgb: np.ndarray, config: ModelConfig) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [S, S, 3]: PIL bicubic resize, then CLIP's centre crop."""
    height, width = resized_shape(*rgb.shape[:2], config)
    image = Image.fromarray(rgb).resize((width, height), resample=Image.Resampling.BICUBIC)
    pixels = np.asarray(image)
    size = config.image_size
    top, left = (height - size) // 2, (width - size) // 2
    return pixels[top : top + size, left : left + size]


def _as_image_list(images) -> list:
    if isinstance(images, Image.Image):
        return [images]
    if isinstance(images, (list, tuple)):
        return list(images)
    if not hasattr(images, "shape"):
        raise TypeError(
            "Expected a PIL image, a uint8 array [H, W(, C)] / [N, H, W, C] or a list of them, "
            f"got {type(images).__name__}"
        )
    images = np.asarray(images)
    if images.ndim == 4:
        return list(images)
    if images.ndim in (2, 3):
        return [images]
    raise ValueError(f"Expected an image [H, W(, C)] or a batch [N, H, W, C], got shape "
                     f"{images.shape}")


def _high_depth_to_8bit(image: Image.Image, index: int) -> Image.Image:
    """16-bit ("I;16*", "I") and float ("F") PIL images -> 8-bit "L", scaled to their range.

    PIL's own ``convert("RGB")`` clips them, which turns most 16-bit photographs white and float
    images in [0, 1] black.
    """
    values = np.asarray(image, np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"Image {index}: mode {image.mode!r} image holds NaN or inf pixels")
    lo, hi = float(values.min()), float(values.max())
    if image.mode == "F" and lo >= 0.0 and hi <= 1.0:
        scale = 255.0  # floats in [0, 1]
    elif lo >= 0.0 and hi <= 255.0 and image.mode in ("F", "I"):
        scale = 1.0  # already 8-bit values
    elif lo >= 0.0 and hi <= 65535.0:
        scale = 255.0 / 65535.0  # 16-bit
    else:
        raise ValueError(f"Image {index}: mode {image.mode!r} pixels span [{lo:g}, {hi:g}], "
                         "not a known range ([0, 1], [0, 255] or [0, 65535]): convert it to 8 "
                         "bits first")
    return Image.fromarray(np.round(values * scale).clip(0, 255).astype(np.uint8))  # mode "L"


def _to_rgb(image, index: int = 0) -> np.ndarray:
    """One image -> uint8 RGB [H, W, 3], converted as transformers' convert_to_rgb does (except
    16-bit and float images, which are scaled to 8 bits instead of clipped)."""
    if isinstance(image, Image.Image) and image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I",
                                                          "F"):
        image = _high_depth_to_8bit(image, index)
    if isinstance(image, Image.Image):
        if "A" in image.getbands() or image.info.get("transparency") is not None:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        return np.asarray(image.convert("RGB"))
    if not hasattr(image, "shape"):
        raise TypeError(f"Image {index}: expected a PIL image or a uint8 array, got "
                        f"{type(image).__name__}")
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(
            f"Image {index}: expected uint8 pixels in [0, 255], got dtype {image.dtype} "
            "(for floats in [0, 1] pass (x * 255).round().astype(np.uint8))"
        )
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"Image {index}: expected [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] (channels "
            f"last), got shape {image.shape}"
        )
    if min(image.shape[:2]) == 0:
        raise ValueError(f"Image {index}: empty image of shape {image.shape}")
    if image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    if image.shape[-1] == 4:  # composite onto white, as transformers does for arrays
        alpha = image[..., 3:4] / 255
        return np.round(alpha * image[..., :3] + (1 - alpha) * 255).astype(np.uint8)
    return image

