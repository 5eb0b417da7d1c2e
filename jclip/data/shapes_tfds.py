"""The synthetic scenes benchmark as a tfds builder: ``tfds.load("jclip_shapes/counting")``.

Importing this module registers ``jclip_shapes`` with tensorflow-datasets. Examples come from
``jclip.data.shapes.generate`` in chunks with seeds derived from (config seed, split, chunk), so
a build is reproducible. Configs: attributes, counting, ordinal_size, ordinal_brightness,
spurious_texture and spurious_color (the spurious ones have a third split "counter" where the
background never matches the shape). Class names of each label are the ClassLabel names; the
prompt templates of each label are in ``builder.info.metadata["templates"]``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from jclip.data import shapes

_SPLIT_IDS = {"train": 0, "test": 1, "counter": 2}
_CHUNK = 1000


@dataclasses.dataclass(eq=False)
class ShapesConfig(tfds.core.BuilderConfig):
    """A builder config: a ``shapes.generate`` config, its options and the split sizes."""

    generator: str = "counting"
    options: dict = dataclasses.field(default_factory=dict)
    num_train: int = 20_000
    num_test: int = 5_000
    seed: int = 0


def _config(name, generator, description, **options):
    return ShapesConfig(name=name, generator=generator, options=options, description=description)


CONFIGS = tuple(_config(name, generator, description, **options)
                for name, (generator, options, description) in shapes.NAMED_CONFIGS.items())


class JclipShapes(tfds.core.GeneratorBasedBuilder):
    """Procedurally generated scenes with exact labels (jclip.data.shapes)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = list(CONFIGS)

    def _options(self, split=None):
        opts = dict(self.builder_config.options)
        if self.builder_config.generator == "spurious" and split is not None:
            opts["split"] = split
        return opts

    def _info(self):
        cfg = self.builder_config
        opts = shapes.resolve_options(cfg.generator, **self._options())
        size = opts["image_size"]
        probe = shapes.generate(cfg.generator, 1, 0, **self._options())
        features = {
            "image": tfds.features.Image(shape=(size, size, 3)),
            "caption": tfds.features.Text(),
            "boxes": tfds.features.Tensor(shape=probe["boxes"].shape[1:], dtype=np.int32),
        }
        for label in shapes.LABELS[cfg.generator]:
            names = shapes.classnames(cfg.generator, label, **self._options())
            features[label] = tfds.features.ClassLabel(names=names)
        if cfg.generator == "counting":
            features["caption_counterfactual"] = tfds.features.Text()
            features["count_counterfactual"] = features["count"]
        if cfg.generator == "spurious":
            features["typical"] = tfds.features.Tensor(shape=(), dtype=np.bool_)
        # Zero-shot prompt templates and the generator options travel with the data.
        metadata = tfds.core.MetadataDict(
            generator=cfg.generator,
            options={k: list(v) if isinstance(v, tuple) else v for k, v in opts.items()},
            templates={label: shapes.templates(cfg.generator, label)
                       for label in shapes.LABELS[cfg.generator]})
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            metadata=metadata,
            supervised_keys=("image", "caption"),
            description="Synthetic scenes of simple shapes with exact labels (jclip).",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        cfg = self.builder_config
        splits = {"train": cfg.num_train, "test": cfg.num_test}
        if cfg.generator == "spurious":
            splits["counter"] = cfg.num_test
        return {name: self._generate_examples(name, n) for name, n in splits.items()}

    def _generate_examples(self, split, n):
        cfg = self.builder_config
        for chunk, start in enumerate(range(0, n, _CHUNK)):
            size = min(_CHUNK, n - start)
            seed = (cfg.seed, _SPLIT_IDS[split], chunk)
            scenes = shapes.generate(cfg.generator, size, seed, **self._options(split))
            for i in range(size):
                yield start + i, {key: value[i] for key, value in scenes.items()}
