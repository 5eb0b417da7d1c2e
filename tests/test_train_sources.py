"""Training data sources: shapes and dtypes, disjoint per-process shards, (seed, step)
determinism, the skip / error policy, augmentation, and short runs of the fine-tuning configs."""

import json
import os

import ml_collections
import numpy as np
import pytest

from jclip.train import config as config_lib
from jclip.train import local_batches, loop, readers, sharding, sources
from tests.helpers.files import TRAIN_CAPTIONS, write_classes, write_shards, write_train_pairs
from tests.helpers.models import any_text_tokenizer, micro_fixture  # noqa: F401


def make(micro, batch_size=4, tokenizer=None, **data):
    config, model, word_tokenizer = micro
    tokenizer = tokenizer or word_tokenizer
    config = ml_collections.ConfigDict(config.to_dict())
    config.batch_size = batch_size
    config.data = ml_collections.ConfigDict(data)
    return sources.make_batches(config, tokenizer, model.config)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {"pairs": dict(type="pairs", path=write_train_pairs(root / "pairs")),
            "wds": dict(type="wds", path=write_shards(root / "wds")),
            "classification": dict(type="classification", path=write_classes(root / "cls"),
                                   templates=("a photo of a {}", "a photo of two {}s"))}


@pytest.mark.parametrize("kind", ["pairs", "wds", "classification"])
def test_file_sources_yield_deterministic_batches(micro, data, kind):
    batches = make(micro, **data[kind])
    a, b, c = batches.batch(3), batches.batch(3), batches.batch(4)
    assert a["image"].shape == (4, 32, 32, 3) and a["image"].dtype == np.float32
    assert a["tokens"].shape == (4, 8) and a["tokens"].dtype == np.int32
    assert a["skipped"].tolist() == [0] * 4
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["image"], c["image"])
    # A fresh reader (a restarted run) gives the same batch.
    np.testing.assert_array_equal(make(micro, **data[kind]).batch(3)["image"], a["image"])


def test_global_batch_is_built_from_local_rows(micro, data):
    import jax

    batches = make(micro, batch_size=8, **data["pairs"])
    mesh = sharding.make_mesh()
    arrays, metrics = batches.to_global(batches.batch(0), mesh)
    assert arrays["image"].shape == (8, 32, 32, 3) and "skipped" not in arrays
    assert arrays["image"].sharding == sharding.batch_sharding(mesh)
    assert int(metrics["data/skipped"]) == 0 and jax.device_count() >= 1


@pytest.mark.parametrize("kind", ["pairs", "wds", "classification"])
def test_process_shards_are_disjoint_and_cover_the_data(tmp_path, data, kind):
    spec = data[kind]
    path = spec["path"].removeprefix("folder:")
    tables = {"pairs": lambda i: readers.PairsFolder(path, process_index=i, process_count=2),
              "wds": lambda i: readers.WdsShards(path, process_index=i, process_count=2),
              "classification": lambda i: readers.ClassFolder(path, process_index=i,
                                                              process_count=2)}[kind]
    every = {"pairs": lambda t: [r[0] for r in t.rows],
             "wds": lambda t: [(t.shards[s.shard], s.key) for s in t.samples],
             "classification": lambda t: list(t.files)}[kind]
    shards = [every(tables(i)) for i in range(2)]
    assert set(shards[0]).isdisjoint(shards[1]) and len(shards[0]) == len(shards[1]) == 4
    whole = {"pairs": lambda: readers.PairsFolder(path),
             "wds": lambda: readers.WdsShards(path),
             "classification": lambda: readers.ClassFolder(path)}[kind]()
    assert sorted(shards[0] + shards[1]) == sorted(every(whole))


def test_an_epoch_of_steps_visits_every_example_of_the_shard(micro, data):
    batches = make(micro, batch_size=2, **data["pairs"]).source  # one process: 8 examples
    seen = np.concatenate([batches.indices(s) for s in range(4)])
    assert sorted(seen.tolist()) == list(range(8))
    assert sorted(np.concatenate([batches.indices(s) for s in range(4, 8)]).tolist()) == \
        list(range(8))


def test_unreadable_images_and_empty_captions_raise_or_are_skipped(micro, tmp_path):
    path = write_train_pairs(tmp_path)
    (tmp_path / "images" / "2.jpg").write_bytes(b"not an image")
    rows = [json.loads(line) for line in open(tmp_path / "captions.jsonl")]
    rows[5]["caption"] = "  "
    with open(tmp_path / "captions.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    strict = make(micro, batch_size=8, type="pairs", path=path)
    with pytest.raises(ValueError, match=r"(2\.jpg|empty caption).*on_error='skip'"):
        strict.batch(0)
    lenient = make(micro, batch_size=8, type="pairs", path=path, on_error="skip")
    batch = lenient.batch(0)
    assert batch["skipped"].sum() >= 2 and batch["image"].shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(lenient.batch(0)["tokens"], batch["tokens"])
    with pytest.raises(ValueError, match="on_error must be one of"):
        make(micro, type="pairs", path=path, on_error="ignore").batch(0)


def test_augmentation_is_deterministic_and_changes_the_crops(micro, data):
    plain = make(micro, **data["pairs"]).batch(1)
    aug = make(micro, augment=True, augment_scale=(0.3, 0.6), **data["pairs"])
    a, b = aug.batch(1), aug.batch(1)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["tokens"], plain["tokens"])  # same examples, other crops
    assert not np.array_equal(a["image"], plain["image"])
    rng = np.random.default_rng(0)
    image = np.zeros((40, 60, 3), np.uint8)
    for _ in range(50):
        h, w = local_batches.random_resized_crop(image, rng, (0.9, 1.0)).shape[:2]
        assert 0.9 * 2400 * 0.97 <= h * w <= 2400 and 3 / 4 - 0.05 <= w / h <= 4 / 3 + 0.05


def test_brace_patterns_expand_in_order():
    assert readers.expand_braces("s/{008..010}.tar") == ["s/008.tar", "s/009.tar", "s/010.tar"]
    assert readers.expand_braces("{a,b}-{0..1}") == ["a-0", "a-1", "b-0", "b-1"]


def test_errors_name_the_problem(micro, tmp_path):
    with pytest.raises(ValueError, match=r"Unknown data.type 'laion'.*'pairs'.*'wds'"):
        make(micro, type="laion")
    with pytest.raises(ValueError, match="needs data.path"):
        make(micro, type="pairs")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make(micro, type="pairs", path=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"2 of the 2 shards"):
        make(micro, type="wds", path=str(tmp_path / "{0..1}.tar"))
    assert set(sources.SOURCES) == {"shapes", "pairs", "tfds_pairs", "wds", "classification",
                                    "mixture"}


@pytest.mark.parametrize("kind", ["tfds_pairs", "classification"])
def test_tfds_sources_under_mock_data(micro, kind):
    import tensorflow_datasets as tfds

    name = "coco_captions" if kind == "tfds_pairs" else "cifar10"
    # tfds's mock cannot apply decoders to coco's nested caption sequences: decode in tfds.
    extra = {"skip_decoding": False} if kind == "tfds_pairs" else {"templates": ("a {}",)}
    with tfds.testing.mock_data(num_examples=16, num_sub_examples=3):
        batches = make(micro, tokenizer=any_text_tokenizer, type=kind, tfds_name=name,
                       shuffle_buffer=16, **extra)
        a = batches.batch(2)
        got = list(batches.iterate(1, 3))
        shard = batches.source.split
        other = make(micro, tokenizer=any_text_tokenizer, type=kind, tfds_name=name,
                     process_index=1, process_count=2, **extra)
    assert a["image"].shape == (4, 32, 32, 3) and a["image"].dtype == np.float32
    assert a["tokens"].dtype == np.int32 and a["tokens"].shape[0] == 4
    for key in a:
        np.testing.assert_array_equal(got[1][key], a[key])  # resuming at step 2 = step 2
    assert shard == "train" and other.source.split != shard
    assert other.source.b == 2  # each of 2 processes builds half the global batch


@pytest.mark.parametrize("name", ["pairs_finetune", "flyp"])
def test_fine_tuning_configs_run_offline(tmp_path, data, name):
    """pairs_finetune / flyp (micro) fine-tune a tiny HF checkpoint on local data; the final
    model is saved and the loss is finite."""
    from jclip.train import metric_writer

    config = config_lib.load_config(f"experiments/configs/{name}.py:micro")
    checkpoint = os.path.join(os.path.dirname(__file__), "fixtures", "models", "hf_clip_mixed")
    source = data["classification" if name == "flyp" else "pairs"]["path"]
    overrides = {"init_from": checkpoint, "data.path": source, "checkpoint_every": 0,
                 "total_steps": 3, "tensorboard": False}
    for key, value in overrides.items():
        config_lib.apply_override(config, key, str(value))
    assert config.tokenizer == checkpoint  # follows init_from
    loop.train(config, str(tmp_path))
    records = metric_writer.read_metrics(str(tmp_path))
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(np.isfinite(r["loss"]) and r["data/skipped"] == 0 for r in records)
    assert (tmp_path / "model" / "jclip_config.json").is_file()


def test_wds_with_fewer_tars_than_processes_splits_the_samples(data):
    pattern = data["wds"]["path"].replace("{00000..00001}", "00000")
    parts = [readers.WdsShards(pattern, process_index=i, process_count=2) for i in range(2)]
    keys = [[s.key for s in p.samples] for p in parts]
    assert len(keys[0]) == len(keys[1]) == 2 and set(keys[0]).isdisjoint(keys[1])
    assert parts[0].load(0)["caption"] in TRAIN_CAPTIONS
