"""The ``mixture`` data source: weighted rows of several source types in every batch."""

import ml_collections
import numpy as np
import pytest

from jclip.train import config as config_lib
from jclip.train import loop, mixture, sources
from tests.helpers.files import write_pairs_one_unreadable

MICRO = "experiments/configs/shapes_micro.py"


@pytest.mark.parametrize("batch, weights, multiple, expected", [
    (16, [0.25, 0.75], 1, [4, 12]),
    (10, [1, 1, 1], 1, [4, 3, 3]),  # 3.33 each: the one spare row goes to the first
    (10, [1, 1, 1], 2, [4, 4, 2]),  # in units of 2 rows (2 processes)
    (100, [0.1, 0.2, 0.7], 4, [12, 20, 68]),
])
def test_split_counts_is_largest_remainder(batch, weights, multiple, expected):
    got = mixture.split_counts(batch, weights, multiple)
    assert got == expected and sum(got) == batch and all(c % multiple == 0 for c in got)
    exact = batch * np.asarray(weights) / np.sum(weights)
    assert np.all(np.abs(np.asarray(got) - exact) < multiple)


@pytest.mark.parametrize("weights, match", [([1.0], ">= 2 components"),
                                            ([1.0, -1.0], "positive weights"),
                                            ([1000.0, 1.0], "a component would get no row")])
def test_bad_weights_are_named(weights, match):
    with pytest.raises(ValueError, match=match):
        mixture.split_counts(8, weights)


def _config(folder, **over):
    config, _ = config_lib.parse_args(["--config", MICRO])
    config.data = ml_collections.ConfigDict({
        "type": "mixture", "on_error": "skip", "num_workers": 2,
        "mixture": {"scenes": dict(type="shapes", weight=1.0, sources=("counting",),
                                   options=dict(image_size=32, shapes=("circle", "square"),
                                                colors=("red", "blue")),
                                   source_options=dict(counting=dict(max_count=3))),
                    "photos": dict(type="pairs", weight=3.0, path=str(folder))}})
    config.evals = ml_collections.ConfigDict()
    for k, v in over.items():
        config[k] = v
    return config


def test_each_batch_holds_the_weighted_rows_of_each_source(tmp_path):
    folder = write_pairs_one_unreadable(tmp_path / "pairs")
    config = _config(folder)
    model, tok, _ = loop.build_model(config)
    make = lambda: sources.make_batches(config, tok, model.config)
    a, b = next(make().iterate(5, 6)), next(make().iterate(5, 6))
    assert a["tokens"].shape[0] == 16 and a["image"].shape[0] == 16
    np.testing.assert_array_equal(a["image"], b["image"])  # a pure function of (seed, step)
    # The photos' 12 rows are exactly those the pairs source alone gives with 12 rows and the
    # component's seed; the scenes' 4 rows those of the shapes source with 4.
    alone = ml_collections.ConfigDict(config.to_dict())
    # Components in name order (photos, scenes): seeds + 1000 and + 2000.
    alone.batch_size, alone.seed = 12, config.seed + 1000
    alone.data = ml_collections.ConfigDict({"on_error": "skip", "num_workers": 2,
                                            **config.data.mixture.photos})
    photos = next(sources.make_batches(alone, tok, model.config).iterate(5, 6))
    alone.batch_size, alone.seed = 4, config.seed + 2000
    alone.data = ml_collections.ConfigDict({"on_error": "skip", "num_workers": 2,
                                            **config.data.mixture.scenes})
    scenes = sources.make_batches(alone, tok, model.config).batch(5)
    expected = np.concatenate([photos["image"], scenes["image"]])
    order = np.random.default_rng((config.seed, 7, 5, 0)).permutation(16)
    np.testing.assert_array_equal(a["image"], expected[order])
    assert not np.array_equal(next(make().iterate(6, 7))["image"], a["image"])


def test_a_mixture_trains_and_its_config_is_checked(tmp_path):
    folder = write_pairs_one_unreadable(tmp_path / "pairs")
    config = _config(folder, total_steps=3, checkpoint_every=0, tensorboard=False)
    config_lib.check_config(config, num_devices=8)
    trainer = loop.train(config, str(tmp_path / "run"))
    assert int(trainer.state["step"]) == 3
    bad = _config(folder)
    bad.data.mixture.photos.type = "parquet"
    model, tok, _ = loop.build_model(bad)
    with pytest.raises(ValueError, match="data.mixture.photos.type='parquet' must be one of"):
        sources.make_batches(bad, tok, model.config)
