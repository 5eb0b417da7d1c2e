"""Synthetic scenes benchmark: procedurally generated images with exact labels and captions.

Four configs, each a pure numpy function of ``(n, seed, **options)``:

- ``attributes``: one object; labels ``shape``, ``color``, ``size`` (small / medium / large);
  caption "a photo of a small red circle".
- ``counting``: 1..max_count objects of one shape and one colour (count, shape and colour drawn
  uniformly and independently; each object's size drawn independently); caption
  "a photo of seven blue squares" and a counterfactual caption with another number word
  (Paiss et al., 2023, "Teaching CLIP to Count to Ten").
- ``ordinal``: one object whose size (``task="size"``) or brightness (``task="brightness"``) takes
  one of ``levels`` ordered values; label ``level`` in 0..levels-1.
- ``spurious``: one object on a background (texture or dark colour) that goes with its shape with
  probability ``correlation`` in the train/test splits and never in the ``counter`` split, in the
  spirit of CounterAnimal (Wang et al., 2024, "A Sober Look at the Robustness of CLIPs to
  Spurious Features"); label ``background`` and bool ``typical``.

Objects never overlap or touch: scenes are cut into a grid of cells, each object sits inside its
own cell with at least one background row/column to the next cell, so the number of connected
components of non-background pixels equals ``count``. Every output holds ``image`` uint8
[n, H, W, 3], ``caption`` (numpy str array [n]), the config's int labels [n] and ``boxes`` int32
[n, max_objects, 4] (top, left, height, width of each object's stamp box; -1 rows pad).

``seed`` is anything ``np.random.default_rng`` accepts, e.g. ``(base_seed, step)`` for a
reproducible per-step batch. For ``spurious`` the split is folded into an int seed, so the
train, test and counter scenes of one seed are different scenes.
"""

from __future__ import annotations

import math

import numpy as np

from jclip.data import render

SHAPES = render.SHAPES
COLORS = tuple(render.COLORS)
CONFIGS = ("attributes", "counting", "ordinal", "spurious")
SIZES = ("small", "medium", "large")
_SIZE_FRACTIONS = (0.3, 0.5, 0.75)  # stamp side / image side of each size word
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen")
_PLURALS = {"cross": "crosses"}
_LEVEL_WORDS = {
    "size": ("tiny", "small", "medium", "large", "huge"),
    "brightness": ("very dark", "dark", "dim", "bright", "very bright"),
}
_BRIGHTNESS_RANGE = (0.3, 1.0)  # colour multiplier of the darkest and brightest level

_COMMON = {"image_size": 64, "shapes": SHAPES, "colors": COLORS}
_DEFAULTS = {
    "attributes": {},
    "counting": {"max_count": 10, "min_count": 1},
    "ordinal": {"task": "size", "levels": 5},
    "spurious": {"correlation": 0.9, "split": "train", "background_kind": "texture"},
}
# Named configs (the tfds builder's configs and the eval datasets ``jclip_shapes/<name>``):
# name -> (generator config, options, description).
NAMED_CONFIGS = {
    "attributes": ("attributes", {}, "One object; labels shape, color, size."),
    "counting": ("counting", {}, "1-10 objects of one shape and colour."),
    "ordinal_size": ("ordinal", {"task": "size"}, "One object at one of 5 ordered sizes."),
    "ordinal_brightness": ("ordinal", {"task": "brightness"},
                           "One object at one of 5 ordered brightnesses."),
    "spurious_texture": ("spurious", {"background_kind": "texture"},
                         "Background texture goes with the shape (0.9)."),
    "spurious_color": ("spurious", {"background_kind": "color"},
                       "Background colour goes with the shape (0.9)."),
}
LABELS = {
    "attributes": ("shape", "color", "size"),
    "counting": ("count", "shape", "color"),
    "ordinal": ("level", "shape", "color"),
    "spurious": ("shape", "color", "size", "background"),
}


def resolve_options(config_name: str, **options) -> dict:
    """Validates ``options`` of a config and fills in the defaults."""
    if config_name not in CONFIGS:
        raise ValueError(f"unknown shapes config {config_name!r}; known configs: {CONFIGS}")
    allowed = {**_COMMON, **_DEFAULTS[config_name]}
    unknown = set(options) - set(allowed)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)} for config {config_name!r}; "
                        f"accepted options: {sorted(allowed)}")
    opts = {**allowed, **options}
    opts["shapes"], opts["colors"] = tuple(opts["shapes"]), tuple(opts["colors"])
    for key, known in (("shapes", SHAPES), ("colors", COLORS)):
        bad = [x for x in opts[key] if x not in known]
        if bad or not opts[key] or len(set(opts[key])) != len(opts[key]):
            raise ValueError(f"{key} must be distinct names from {known}, got {opts[key]}")
    if int(opts["image_size"]) < 16:
        raise ValueError(f"image_size must be >= 16, got {opts['image_size']}")
    if config_name == "counting":
        lo, hi = opts["min_count"], opts["max_count"]
        if not 1 <= lo <= hi < len(NUMBER_WORDS):
            raise ValueError(f"need 1 <= min_count <= max_count <= {len(NUMBER_WORDS) - 1}, "
                             f"got min_count={lo}, max_count={hi}")
    if config_name == "ordinal":
        if opts["task"] not in _LEVEL_WORDS:
            raise ValueError(f"ordinal task must be one of {tuple(_LEVEL_WORDS)}, got "
                             f"{opts['task']!r}")
        if not 2 <= opts["levels"] <= 10:
            raise ValueError(f"levels must be in 2..10, got {opts['levels']}")
    if config_name == "spurious":
        if not 0.0 <= opts["correlation"] <= 1.0:
            raise ValueError(f"correlation must be in [0, 1], got {opts['correlation']}")
        if opts["split"] not in ("train", "test", "counter"):
            raise ValueError(f"split must be 'train', 'test' or 'counter', got {opts['split']!r}")
        if opts["background_kind"] not in ("texture", "color"):
            raise ValueError("background_kind must be 'texture' or 'color', got "
                             f"{opts['background_kind']!r}")
        if len(opts["shapes"]) < 2:
            raise ValueError("the spurious config needs at least 2 shapes")
    return opts


def _odd(x):
    return max(render.MIN_SIDE, int(2 * math.floor((x - 1) / 2) + 1))


def _size_sides(image_size):
    sides = tuple(_odd(f * image_size) for f in _SIZE_FRACTIONS)
    if len(set(sides)) != len(sides):
        raise ValueError(f"image_size {image_size} is too small for distinct sizes {sides}")
    return sides


def _level_sides(image_size, levels):
    sides = tuple(_odd(s) for s in np.linspace(0.2, 0.85, levels) * image_size)
    if len(set(sides)) != levels:
        raise ValueError(f"image_size {image_size} is too small for {levels} distinct size levels")
    return sides


def level_names(task: str, levels: int) -> list[str]:
    """Words of the ordered levels: five words (spread out when levels < 5), else numbered."""
    words = _LEVEL_WORDS[task]
    if levels <= len(words):
        return [words[int(round(i))] for i in np.linspace(0, len(words) - 1, levels)]
    return [f"level {NUMBER_WORDS[i + 1]}" for i in range(levels)]


def _place_single(rng, n, image_size, side):
    """Top-left corners [n] of one stamp of side ``side`` [n] per scene, anywhere in the image."""
    y0 = rng.integers(0, image_size - side + 1)
    x0 = rng.integers(0, image_size - side + 1)
    return y0, x0


def _single_object(rng, n, opts, side, rgb, shape, bg=None, backgrounds=None):
    size = opts["image_size"]
    sides = tuple(sorted(set(side.tolist())))
    y0, x0 = _place_single(rng, n, size, side)
    if backgrounds is None:
        backgrounds = np.zeros((1, size, size, 3), np.uint8)
        bg = np.zeros(n, np.int64)
    scene = np.arange(n)
    image = render.compose(backgrounds, bg, scene, shape, np.searchsorted(sides, side), sides,
                           y0, x0, rgb, opts["shapes"])
    boxes = np.stack([y0, x0, side, side], axis=1)[:, None, :].astype(np.int32)
    return image, boxes


def _palette(opts):
    return np.array([render.COLORS[c] for c in opts["colors"]], np.uint8)


def _attributes(rng, n, opts):
    shape = rng.integers(0, len(opts["shapes"]), n)
    color = rng.integers(0, len(opts["colors"]), n)
    size = rng.integers(0, len(SIZES), n)
    side = np.array(_size_sides(opts["image_size"]))[size]
    image, boxes = _single_object(rng, n, opts, side, _palette(opts)[color], shape)
    caption = [f"a photo of a {SIZES[z]} {opts['colors'][c]} {opts['shapes'][s]}"
               for s, c, z in zip(shape, color, size)]
    return {"image": image, "caption": caption, "shape": shape, "color": color, "size": size,
            "boxes": boxes}


def _plural(shape):
    return _PLURALS.get(shape, shape + "s")


def _count_phrase(count, color, shape):
    noun = shape if count == 1 else _plural(shape)
    return f"a photo of {NUMBER_WORDS[count]} {color} {noun}"


def _counting(rng, n, opts):
    size, lo, hi = opts["image_size"], opts["min_count"], opts["max_count"]
    grid = math.ceil(math.sqrt(hi))
    cell = size // grid
    max_side = _odd(cell - 1)  # at least MIN_SIDE, so too small a cell shows up here
    if max_side > cell - 1:
        raise ValueError(f"image_size {size} is too small for max_count {hi}: each object needs a "
                         f"{render.MIN_SIDE + 1}-pixel cell of a {grid}x{grid} grid")
    count = rng.integers(lo, hi + 1, n)
    shape = rng.integers(0, len(opts["shapes"]), n)
    color = rng.integers(0, len(opts["colors"]), n)
    # Counterfactual count: uniform over the other counts in [lo, hi].
    others = max(hi - lo, 1)
    offset = rng.integers(1, others + 1, n)
    if hi > lo:
        count_cf = lo + (count - lo + offset) % (hi - lo + 1)
    else:  # a single count: the next number word (or the previous one at the end of the list)
        count_cf = np.where(count < len(NUMBER_WORDS) - 1, count + 1, count - 1)
    # Objects: a random subset of distinct grid cells per scene, the first `count` are used.
    cells = np.argsort(rng.random((n, grid * grid)), axis=1)[:, :hi]
    sides = tuple(range(render.MIN_SIDE, max_side + 1, 2))
    side_index = rng.integers(0, len(sides), (n, hi))
    side = np.array(sides)[side_index]
    jitter = rng.random((n, hi, 2))
    room = cell - side  # offsets 0..room-1 keep a background row/column before the next cell
    y0 = (cells // grid) * cell + (jitter[..., 0] * room).astype(np.int64)
    x0 = (cells % grid) * cell + (jitter[..., 1] * room).astype(np.int64)
    active = np.arange(hi)[None, :] < count[:, None]
    scene = np.broadcast_to(np.arange(n)[:, None], (n, hi))[active]
    obj_shape = np.broadcast_to(shape[:, None], (n, hi))[active]
    rgb = _palette(opts)[np.broadcast_to(color[:, None], (n, hi))[active]]
    backgrounds = np.zeros((1, size, size, 3), np.uint8)
    image = render.compose(backgrounds, np.zeros(n, np.int64), scene, obj_shape,
                           side_index[active], sides, y0[active], x0[active], rgb, opts["shapes"])
    boxes = np.where(active[..., None], np.stack([y0, x0, side, side], -1), -1).astype(np.int32)
    names_c, names_s = opts["colors"], opts["shapes"]
    caption = [_count_phrase(k, names_c[c], names_s[s]) for k, c, s in zip(count, color, shape)]
    caption_cf = [_count_phrase(k, names_c[c], names_s[s])
                  for k, c, s in zip(count_cf, color, shape)]
    return {"image": image, "caption": caption, "caption_counterfactual": caption_cf,
            "count": count, "count_counterfactual": count_cf, "shape": shape, "color": color,
            "boxes": boxes}


def _ordinal(rng, n, opts):
    size, levels, task = opts["image_size"], opts["levels"], opts["task"]
    level = rng.integers(0, levels, n)
    shape = rng.integers(0, len(opts["shapes"]), n)
    color = rng.integers(0, len(opts["colors"]), n)
    rgb = _palette(opts)[color]
    if task == "size":
        side = np.array(_level_sides(size, levels))[level]
    else:
        side = np.full(n, _size_sides(size)[1])
        factor = np.linspace(*_BRIGHTNESS_RANGE, levels)[level]
        rgb = np.round(rgb * factor[:, None]).astype(np.uint8)
    image, boxes = _single_object(rng, n, opts, side, rgb, shape)
    words = level_names(task, levels)
    # "a photo of a huge circle" (size) / "a photo of a very dark red star" (brightness)
    caption = [f"a photo of a {words[lv]} {opts['shapes'][s]}" if task == "size"
               else f"a photo of a {words[lv]} {opts['colors'][c]} {opts['shapes'][s]}"
               for lv, s, c in zip(level, shape, color)]
    return {"image": image, "caption": caption, "level": level, "shape": shape, "color": color,
            "boxes": boxes}


def background_names(background_kind: str) -> tuple:
    return render.TEXTURES if background_kind == "texture" else tuple(render.BACKGROUND_COLORS)


def _spurious_backgrounds(opts):
    size, k = opts["image_size"], len(opts["shapes"])
    names = background_names(opts["background_kind"])[:k]
    if opts["background_kind"] == "texture":
        return np.stack([render.texture(name, size) for name in names])
    rgb = np.array([render.BACKGROUND_COLORS[name] for name in names], np.uint8)
    return np.broadcast_to(rgb[:, None, None, :], (k, size, size, 3)).copy()


def _spurious(rng, n, opts):
    k = len(opts["shapes"])
    shape = rng.integers(0, k, n)
    color = rng.integers(0, len(opts["colors"]), n)
    size = rng.integers(0, len(SIZES), n)
    # Background i is the typical background of shape i. Train/test: typical with probability
    # `correlation`, else uniform over the k-1 others; counter split: always one of the others.
    p_typical = 0.0 if opts["split"] == "counter" else opts["correlation"]
    typical = rng.random(n) < p_typical
    other = (shape + rng.integers(1, k, n)) % k
    background = np.where(typical, shape, other)
    side = np.array(_size_sides(opts["image_size"]))[size]
    image, boxes = _single_object(rng, n, opts, side, _palette(opts)[color], shape, background,
                                  _spurious_backgrounds(opts))
    caption = [f"a photo of a {opts['colors'][c]} {opts['shapes'][s]}"
               for s, c in zip(shape, color)]
    return {"image": image, "caption": caption, "shape": shape, "color": color, "size": size,
            "background": background, "typical": typical, "boxes": boxes}


def _fold_in(seed, value: int):
    """Appends ``value`` to an int / int-sequence seed (other seeds are used unchanged)."""
    if isinstance(seed, (int, np.integer)):
        return (int(seed), value)
    if isinstance(seed, (tuple, list)) and all(isinstance(s, (int, np.integer)) for s in seed):
        return (*seed, value)
    return seed


_GENERATORS = {"attributes": _attributes, "counting": _counting, "ordinal": _ordinal,
               "spurious": _spurious}


def generate(config_name: str, n: int, seed, **options) -> dict:
    """Generates ``n`` scenes of ``config_name``; deterministic for ``(seed, options)``.

    Args:
      config_name: one of CONFIGS.
      n: number of scenes.
      seed: int or sequence of ints (e.g. ``(seed, step)``), passed to np.random.default_rng.
      **options: image_size (64), shapes (names from SHAPES), colors (names from COLORS), and per
        config: counting max_count (10), min_count (1); ordinal task ("size" | "brightness"),
        levels (5); spurious correlation (0.9), split ("train" | "test" | "counter"),
        background_kind ("texture" | "color").
    Returns:
      dict of numpy arrays: "image" uint8 [n, S, S, 3], "caption" str [n], "boxes" int32
      [n, objects, 4], and int64 [n] labels: attributes shape, color, size; counting count
      (1..max_count), count_counterfactual, shape, color (+ str "caption_counterfactual");
      ordinal level, shape, color; spurious shape, color, size, background (+ bool typical).
      Label ids index the lists of ``classnames(config_name, label, **options)``.
    """
    opts = resolve_options(config_name, **options)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if config_name == "spurious":  # train / test / counter scenes differ for the same seed
        seed = _fold_in(seed, ("train", "test", "counter").index(opts["split"]))
    out = _GENERATORS[config_name](np.random.default_rng(seed), int(n), opts)
    for key in ("caption", "caption_counterfactual"):
        if key in out:
            out[key] = np.array(out[key], dtype=str).reshape(int(n))
    return out


def classnames(config_name: str, label: str, **options) -> list[str]:
    """Names of the classes of ``label`` in ``config_name``; index = label id.

    For ``count`` the index is the count itself, so the list starts at "zero" (a count that the
    scenes never have) and ends at the number word of max_count.
    """
    opts = resolve_options(config_name, **options)
    if label not in LABELS[config_name]:
        raise ValueError(f"config {config_name!r} has labels {LABELS[config_name]}, got {label!r}")
    if label == "shape":
        return list(opts["shapes"])
    if label == "color":
        return list(opts["colors"])
    if label == "size":
        return list(SIZES)
    if label == "count":
        return list(NUMBER_WORDS[: opts["max_count"] + 1])
    if label == "level":
        return level_names(opts["task"], opts["levels"])
    return list(background_names(opts["background_kind"])[: len(opts["shapes"])])


_TEMPLATES = {
    "shape": ("a photo of a {}", "a drawing of a {}", "a {} shape", "a photo of a small {}",
              "a photo of a large {}"),
    "color": ("a photo of a {} shape", "a {} object", "a drawing of a {} shape"),
    "size": ("a photo of a {} shape", "a {} object", "a drawing of a {} shape"),
    "count": ("a photo of {} shapes", "a photo of {} objects", "{} objects"),
    "level": ("a photo of a {} object", "a {} shape", "a drawing of a {} shape"),
    "background": ("a photo of a shape on a {} background", "a {} background"),
}


def templates(config_name: str, label: str) -> list[str]:
    """Zero-shot prompt templates (with one "{}" for the class name) of ``label``."""
    if config_name not in CONFIGS:
        raise ValueError(f"unknown shapes config {config_name!r}; known configs: {CONFIGS}")
    if label not in LABELS[config_name]:
        raise ValueError(f"config {config_name!r} has labels {LABELS[config_name]}, got {label!r}")
    return list(_TEMPLATES[label])


def vocabulary() -> list[str]:
    """Every word any caption, template or class name of any config can contain (sorted)."""
    words = set(NUMBER_WORDS) | set(SHAPES) | {_plural(s) for s in SHAPES} | set(COLORS)
    words |= set(SIZES) | set(render.TEXTURES) | set(render.BACKGROUND_COLORS)
    words |= {"a", "photo", "of", "object", "shape", "level"}
    for names in _LEVEL_WORDS.values():
        words |= {w for name in names for w in name.split()}
    for group in _TEMPLATES.values():
        words |= {w for t in group for w in t.replace("{}", " ").split()}
    return sorted(words)
