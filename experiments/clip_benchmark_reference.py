"""The CLIP_benchmark side of the jclip.evals comparisons: its model, tokenizer and dataloader
interfaces over transformers' PyTorch CLIPModel, and the photographs both sides evaluate.

Used by experiments/bench_eval.py (timing) and tests/test_evals_clip_benchmark.py (parity), so
the test checks the very harness the benchmark measures against. Needs torch and clip_benchmark
(``pip install torch``, ``pip install --no-deps clip-benchmark``); jclip itself never imports it.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

CLIP_SOT, CLIP_EOT = 49406, 49407  # CLIP's start and end token ids



class TorchCLIP:
    """transformers' ``CLIPModel`` behind CLIP_benchmark's model interface.

    ``encode_image(pixels [B, 3, S, S])`` and ``encode_text(ids [B, L])`` return the projected
    (not normalised) embeddings, as OpenCLIP's methods of the same names; CLIP_benchmark
    normalises them. ``seconds`` accumulates the time spent in each (for timing breakdowns).
    """

    def __init__(self, hf_model):
        self.hf = hf_model.eval()
        self.seconds = {"image_encode_s": 0.0, "text_encode_s": 0.0}

    def encode_image(self, pixels):
        start = time.perf_counter()
        out = self.hf.get_image_features(pixel_values=pixels).pooler_output
        self.seconds["image_encode_s"] += time.perf_counter() - start
        return out

    def encode_text(self, ids):
        start = time.perf_counter()
        out = self.hf.get_text_features(input_ids=ids).pooler_output
        self.seconds["text_encode_s"] += time.perf_counter() - start
        return out


def torch_tokenizer(tokenizer, *, trim: bool = False):
    """CLIP_benchmark's tokenizer interface (list[str] -> LongTensor [N, L]) over a jclip one.

    trim: drop the padding columns (id 0) after the longest text of each call, as a tokenizer
      with ``padding="longest"`` gives; CLIP's text features are unchanged (causal attention,
      read at the end token), only the wasted positions go.
    """
    import torch

    def tokenize(texts):
        ids = np.asarray(tokenizer(list(texts)))
        if trim and ids.size:
            used = np.flatnonzero(ids.any(axis=0))
            ids = ids[:, : used[-1] + 1 if used.size else 1]
        return torch.as_tensor(ids, dtype=torch.long)

    return tokenize


def topk_accuracy(output, target, topk=(1,)):
    """CLIP_benchmark's ``zeroshot_classification.accuracy`` for numpy 2.

    Its version converts a 1-element array with ``float()``, which numpy 2 rejects; this one
    computes the same numbers: for each k, the count of rows whose target is among the k largest
    scores of ``output`` [N, C] (``torch.topk``, as there), divided by N.
    """
    top = output.topk(max(topk), dim=1, largest=True, sorted=True).indices
    hits = top == target.view(-1, 1)
    return [int(hits[:, :k].sum().item()) / len(target) for k in topk]


@contextlib.contextmanager
def numpy2_accuracy():
    """Runs CLIP_benchmark's classification ``evaluate`` with ``topk_accuracy`` in place of its
    ``accuracy`` (restored on exit)."""
    from clip_benchmark.metrics import zeroshot_classification

    saved = zeroshot_classification.accuracy
    zeroshot_classification.accuracy = topk_accuracy
    try:
        yield
    finally:
        zeroshot_classification.accuracy = saved


def clip_image_processor(image_size: int):
    """transformers' (PIL) CLIP image processor at ``image_size``: shortest side to S, centre
    crop S x S, OpenAI mean / std."""
    import transformers

    return transformers.CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})


def read_rgb(path: str):
    """An image file as a PIL RGB image (decoded now)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


class ImageFiles:
    """Map-style dataset for a torch DataLoader: (pixels float32 [3, S, S], label int).

    Each item decodes its file with PIL and runs ``processor`` (``clip_image_processor``).
    ``classes`` is read by CLIP_benchmark's classification ``evaluate`` (acc5 needs >= 5).
    """

    def __init__(self, files, labels, classes, processor):
        if len(files) != len(labels):
            raise ValueError(f"{len(files)} files but {len(labels)} labels")
        self.files, self.labels = list(files), [int(x) for x in labels]
        self.classes, self.processor = list(classes), processor

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        import torch

        pixels = self.processor(read_rgb(self.files[i]), return_tensors="np")["pixel_values"][0]
        return torch.from_numpy(np.ascontiguousarray(pixels, np.float32)), self.labels[i]


class CaptionedImageFiles:
    """Map-style retrieval dataset: (pixels float32 [3, S, S], list of captions) per image.

    Batch it with ``collate_captioned`` to get CLIP_benchmark's retrieval batches
    (images [B, 3, S, S], a list of B caption lists).
    """

    def __init__(self, files, captions, processor):
        if len(files) != len(captions):
            raise ValueError(f"{len(files)} files but {len(captions)} caption lists")
        self.files, self.captions, self.processor = list(files), list(captions), processor

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        import torch

        pixels = self.processor(read_rgb(self.files[i]), return_tensors="np")["pixel_values"][0]
        return torch.from_numpy(np.ascontiguousarray(pixels, np.float32)), list(self.captions[i])


def collate_captioned(items):
    """[(pixels, captions)] -> (stacked pixels, list of caption lists)."""
    import torch

    return torch.stack([pixels for pixels, _ in items]), [caps for _, caps in items]


class TensorImages:
    """Map-style dataset over preprocessed pixels float32 [N, S, S, 3] (NHWC, as jclip takes
    them): items (pixels [3, S, S], label); ``classes`` as for ``ImageFiles``."""

    def __init__(self, pixels, labels, classes):
        import torch

        self.pixels = torch.from_numpy(np.ascontiguousarray(np.asarray(
            pixels, np.float32).transpose(0, 3, 1, 2)))
        self.labels, self.classes = [int(x) for x in labels], list(classes)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.pixels[i], self.labels[i]


# ---------------------------------------------------------------------------------------------
# Data: photographs of scikit-image and scikit-learn, cropped and flipped.


def photographs() -> dict:
    """Real photographs bundled with scikit-image and scikit-learn: name -> uint8 [H, W, 3]."""
    from skimage import data
    from sklearn.datasets import load_sample_image

    return {"astronaut": data.astronaut(), "cat": data.chelsea(), "coffee": data.coffee(),
            "rocket": data.rocket(), "galaxy": data.hubble_deep_field(),
            "tissue": data.immunohistochemistry(), "retina": data.retina(),
            "colorwheel": data.colorwheel(), "temple": load_sample_image("china.jpg"),
            "flower": load_sample_image("flower.jpg")}


def random_view(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (40-100% of each side) of ``photo``, mirrored with probability 1/2."""
    h, w = photo.shape[:2]
    ch, cw = (int(rng.uniform(0.4, 1.0) * s) for s in (h, w))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    view = photo[top:top + ch, left:left + cw]
    return np.ascontiguousarray(view[:, ::-1] if rng.random() < 0.5 else view)


def write_class_folder(root: str, num_classes: int, num_images: int, seed: int = 0):
    """``num_images`` JPEG views in ``num_classes`` folders ``root/c000`` ... (class k: views of
    photograph k mod 10, sizes spread over the classes) -> (files, labels) in folder order."""
    from PIL import Image

    photos = list(photographs().values())
    rng = np.random.default_rng(seed)
    counts = np.full(num_classes, num_images // num_classes)
    counts[: num_images % num_classes] += 1
    files, labels = [], []
    for k, count in enumerate(counts):
        folder = os.path.join(root, f"c{k:03d}")
        os.makedirs(folder, exist_ok=True)
        for i in range(count):
            path = os.path.join(folder, f"{i:04d}.jpg")
            Image.fromarray(random_view(photos[k % len(photos)], rng)).save(path, quality=92)
            files.append(path)
            labels.append(k)
    return files, np.asarray(labels, np.int64)


# ---------------------------------------------------------------------------------------------
# Models, tokenizer, prompts.


class ClipIdWordTokenizer:
    """A ``WordTokenizer`` whose start / end tokens take CLIP's ids (49406 / 49407), so that a
    model with CLIP's vocabulary pools at the end token: list[str] -> int32 [N, context_length]."""

    def __init__(self, words, context_length: int = 77):
        from jclip.tokenizer import WordTokenizer

        self.words = WordTokenizer(words, context_length)
        if self.words.vocab_size >= CLIP_SOT:
            raise ValueError(f"{self.words.vocab_size} words do not fit below CLIP's start token")
        self.context_length = context_length

    def __call__(self, texts):
        ids = self.words(texts)
        out = ids.copy()
        out[ids == self.words.sot_id] = CLIP_SOT
        out[ids == self.words.eos_id] = CLIP_EOT
        return out


def prompt_words(texts) -> list[str]:
    """The words and punctuation marks of ``texts``, as ``WordTokenizer`` splits them."""
    from jclip.tokenizer import WordTokenizer

    splitter = WordTokenizer(list(WordTokenizer.PUNCTUATION))
    words = dict.fromkeys(w for text in texts for w in splitter.split(text))
    return list(words)
