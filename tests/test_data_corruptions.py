"""Corruptions against the independent re-implementation of the reference code
(tests/helpers/reference_corruptions.py) on real photographs at 224 px (ImageNet table) and 32 px
(CIFAR table), with the same random draws; noise corruptions also in distribution."""

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from jclip.data import corruptions as C
from jclip.data.corruptions import blur, edges, filters
from tests.helpers.reference_corruptions import (
    SIZES,
    cv2_canny,
    cv2_distance_transform,
    cv2_equalize_hist,
    jpeg_compression,
    motion_kernel_2d,
)
from tests.helpers.reference_corruptions import corrupt as reference_corrupt


def _photo(name, size):
    """Resize(256) + CenterCrop(224) as the reference prepares ImageNet; a square crop resized to
    32 px for the CIFAR table."""
    image = Image.fromarray(getattr(skdata, name)())
    w, h = image.size
    if size == 224:
        scale = 256 / min(w, h)
        image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
        w, h = image.size
        left, top = (w - 224) // 2, (h - 224) // 2
        return np.asarray(image.crop((left, top, left + 224, top + 224)))
    side = min(w, h)
    image = image.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
    return np.asarray(image.resize((32, 32), Image.BICUBIC))


PHOTOS = {size: [_photo(n, size) for n in ("astronaut", "coffee", "chelsea")]
          for size in (224, 32)}
NAMES = [n for n in C.CORRUPTIONS if n != "frost"]
# At 224 px the reference's Python loops (glass blur's pixel loop, spatter's Canny and distance
# transform) and the heavier filters run on one photograph and three severities.
SLOW = {"spatter": (1, 3, 5), "glass_blur": (2, 5), "zoom_blur": (1, 3, 5),
        "motion_blur": (1, 3, 5), "defocus_blur": (1, 3, 5)}


def _diff(a, b):
    return np.abs(a.astype(np.int64) - b.astype(np.int64))


@pytest.mark.parametrize("table", ["imagenet", "cifar"])
@pytest.mark.parametrize("name", NAMES)
def test_equals_the_reference_on_photographs(name, table):
    size = SIZES[table]
    slow = name in SLOW and table == "imagenet"
    severities = SLOW[name] if slow else (1, 2, 3, 4, 5)
    photos = PHOTOS[size][:1] if slow else PHOTOS[size]
    for severity in severities:
        for k, x in enumerate(photos):
            seed = 100 * severity + k
            ours = C.corrupt(x, name, severity, seed=np.random.default_rng(seed), table=table)
            theirs = reference_corrupt(x, name, severity, np.random.default_rng(seed), table=table)
            d = _diff(ours, theirs)
            assert d.max() <= 1, (name, table, severity, k, d.max(), (d > 1).mean())


def test_auto_table_picks_cifar_up_to_32_px():
    x = PHOTOS[32][0]
    np.testing.assert_array_equal(C.corrupt(x, "contrast", 2),
                                  C.corrupt(x, "contrast", 2, table="cifar"))
    y = PHOTOS[224][0][:40, :40]
    np.testing.assert_array_equal(C.corrupt(y, "contrast", 2),
                                  C.corrupt(y, "contrast", 2, table="imagenet"))


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_shape_preserving_and_batched_like_one_by_one(name):
    x = np.stack(PHOTOS[32][:2])
    a = C.corrupt(x, name, 3, seed=5)
    np.testing.assert_array_equal(a, C.corrupt(x, name, 3, seed=5))
    assert a.dtype == np.uint8 and a.shape == x.shape
    rng = np.random.default_rng(5)
    one_by_one = np.stack([C.corrupt(im, name, 3, seed=rng) for im in x])
    np.testing.assert_array_equal(a, one_by_one)


# ----------------------------------------------------------------------- noise in distribution


def test_gaussian_and_speckle_noise_residuals():
    flat = np.full((16, 224, 224, 3), 100, np.uint8)
    x = 100 / 255
    for s in range(1, 6):
        sigma = C.severity_parameter("gaussian_noise", s)
        r = C.corrupt(flat, "gaussian_noise", s, seed=s).astype(np.float64) / 255 - x
        inside = (r > -x + 1e-9) & (r < 1 - x - 1e-9)  # unclipped values
        if s == 1:  # 100/255 is > 4 sigma from both ends: nothing clipped
            assert inside.mean() > 0.999
            assert abs(r.std() - sigma) < 0.002 and abs(r.mean() + 0.5 / 255) < 0.002
        # truncation: E[floor] = mean - 1/2 grey level
        t = C.severity_parameter("speckle_noise", s)
        r = C.corrupt(flat, "speckle_noise", s, seed=s).astype(np.float64) / 255 - x
        if s <= 2:
            assert abs(r.std() - x * t) < 0.002, (s, r.std(), x * t)


def test_shot_noise_is_poisson():
    for s, level in ((1, 60), (3, 200), (5, 128)):
        c = C.severity_parameter("shot_noise", s)
        flat = np.full((16, 224, 224, 3), level, np.uint8)
        y = C.corrupt(flat, "shot_noise", s, seed=s).astype(np.float64)
        # y = floor(255 k / c) with k ~ Poisson(c level / 255), k < c (not clipped)
        k = np.round(y * c / 255)
        assert np.all(np.floor(k * 255 / c + 1e-9) == y)
        lam = c * level / 255
        unclipped = k[k < c]
        if (k >= c).mean() < 1e-3:
            assert abs(unclipped.mean() - lam) < 0.02 * lam
            assert abs(unclipped.var() - lam) < 0.05 * lam


def test_impulse_noise_flips_the_severity_fraction_to_black_or_white():
    flat = np.full((8, 224, 224, 3), 77, np.uint8)
    for s in range(1, 6):
        c = C.severity_parameter("impulse_noise", s)
        y = C.corrupt(flat, "impulse_noise", s, seed=s)
        assert set(np.unique(y)) <= {0, 76, 77, 255}
        salt, pepper = (y == 255).mean(), (y == 0).mean()
        assert abs(salt + pepper - c) < 0.003 and abs(salt - pepper) < 0.003


# ----------------------------------------------------------------------- glass blur's loop


def _literal_loop(x, delta, iterations, rng):
    x = x.copy()
    h, w = x.shape[:2]
    for _ in range(iterations):
        for r in range(h - delta, delta, -1):
            for c in range(w - delta, delta, -1):
                dx, dy = rng.integers(-delta, delta, size=(2,))
                x[r, c], x[r + dy, c + dx] = x[r + dy, c + dx], x[r, c]
    return x


@pytest.mark.parametrize("delta", [1, 2, 3, 4])
def test_glass_shuffle_equals_the_literal_loop(delta):
    rng_x = np.random.default_rng(delta)
    for h, w in ((20, 20), (17, 26)):
        x = rng_x.integers(0, 256, (h, w, 3)).astype(np.uint8)
        for iterations in (1, 3):
            expected = _literal_loop(x, delta, iterations, np.random.default_rng(7))
            rng = np.random.default_rng(7)
            flat = x.reshape(h * w, 3)
            for _ in range(iterations):
                flat = flat[blur.shuffle_sources(h, w, delta, rng)]
            np.testing.assert_array_equal(flat.reshape(x.shape), expected)


# ----------------------------------------------------------------------- motion blur kernel


def test_motion_kernel_matches_the_formula_and_blurs_along_its_angle():
    for radius, sigma, angle in ((10, 3, 0.0), (15, 8, 30.0), (20, 15, -45.0), (6, 1.5, 12.5)):
        k, dx, dy = filters.motion_kernel(radius, sigma, angle)
        grid = motion_kernel_2d(radius, sigma, angle)
        ours = np.zeros_like(grid)
        mid = grid.shape[0] // 2
        np.add.at(ours, (mid + dy, mid + dx), k)
        np.testing.assert_allclose(ours, grid, atol=1e-12)
        assert len(k) == 2 * int(np.ceil(radius)) + 1 and np.isclose(k.sum(), 1)
        assert np.all(np.diff(k) < 0)  # one-sided: the heaviest tap is the pixel itself
    # horizontal blur of a vertical edge: constant down each column, a monotone ramp across
    edge = np.zeros((40, 80), np.uint8)
    edge[:, 40:] = 255
    out = filters.motion_blur(edge, 10, 3, 0.0)
    assert np.all(out == out[:1])
    row = out[0].astype(int)
    assert np.all(np.diff(row) >= 0) and row[:19].max() == 0 and row[40:].min() == 255
    k, _, _ = filters.motion_kernel(10, 3, 0.0)
    # pixel 40 - j reads taps j.. of the step: 255 * sum_{i >= j} k_i
    for j in range(1, 8):
        assert abs(row[40 - j] - 255 * k[j:].sum()) <= 0.5 + 1e-9
    # a vertical blur (90 deg) of the same edge leaves it unchanged
    np.testing.assert_array_equal(filters.motion_blur(edge, 10, 3, 90.0), edge)


# ----------------------------------------------------------------------- OpenCV pieces


def test_spatter_opencv_steps_equal_their_loop_definitions():
    rng = np.random.default_rng(0)
    for _ in range(3):
        liquid = filters.gaussian(rng.normal(0.65, 0.3, (48, 40)), 2)
        liquid[liquid < 0.68] = 0
        u8 = (liquid * 255).astype(np.uint8)
        e = edges.canny(u8, 50, 150)
        np.testing.assert_array_equal(e, cv2_canny(u8, 50, 150))
        assert 0 < (e > 0).mean() < 0.5
        np.testing.assert_array_equal(edges.chamfer_distance(255 - e),
                                      cv2_distance_transform(255 - e))
        d = rng.integers(0, 21, (48, 40)).astype(np.uint8)
        np.testing.assert_array_equal(edges.equalize_hist(d), cv2_equalize_hist(d))


def test_chamfer_distance_of_a_point():
    x = np.full((9, 9), 255, np.uint8)
    x[4, 4] = 0
    d = edges.chamfer_distance(x)
    assert d[4, 4] == 0 and np.isclose(d[4, 5], 1) and np.isclose(d[5, 5], 1.4, atol=1e-4)
    assert np.isclose(d[6, 5], 2.1969, atol=1e-4) and np.isclose(d[4, 8], 4)


# ----------------------------------------------------------------------- frost


def _frost_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i, name in enumerate(("frost1.png", "frost2.png", "frost3.png", "frost4.jpg",
                              "frost5.jpg", "frost6.jpg")):
        ice = rng.integers(0, 256, (300 + 10 * i, 320, 3)).astype(np.uint8)
        Image.fromarray(ice).save(tmp_path / name, quality=95)
    return tmp_path


def test_frost_blends_a_crop_of_the_frost_images(tmp_path):
    folder = _frost_folder(tmp_path)
    files = [str(folder / n) for n in ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg",
                                       "frost5.jpg", "frost6.jpg")]
    for table in ("imagenet", "cifar"):
        for s in (1, 3, 5):
            x = PHOTOS[SIZES[table]][s % 3]
            ours = C.corrupt(x, "frost", s, seed=np.random.default_rng(s), table=table,
                             frost_dir=folder)
            theirs = reference_corrupt(x, "frost", s, np.random.default_rng(s), table=table,
                                 files=files)
            assert _diff(ours, theirs).max() <= 1


def test_frost_without_its_images_says_where_to_get_them(tmp_path):
    x = PHOTOS[32][0]
    with pytest.raises(ValueError, match="frost images.*frost_dir"):
        C.corrupt(x, "frost", 1)
    with pytest.raises(ValueError, match="no image files"):
        C.corrupt(x, "frost", 1, frost_dir=tmp_path)


def test_imagenet_crop_and_the_jpeg_save_of_imagenet_c():
    coffee = skdata.coffee()  # 400 x 600: Resize(256) -> 256 x 384, CenterCrop(224) at (16, 80)
    resized = np.asarray(Image.fromarray(coffee).resize((384, 256), Image.BILINEAR))
    np.testing.assert_array_equal(C.imagenet_crop(coffee), resized[16:240, 80:304])
    assert C.imagenet_crop(skdata.chelsea().transpose(1, 0, 2), 32).shape == (32, 32, 3)
    x = PHOTOS[224][1]
    saved = C.corrupt(x, "fog", 2, seed=3, jpeg_quality=85)
    expected = jpeg_compression(C.corrupt(x, "fog", 2, seed=3), 85, None, 224)
    np.testing.assert_array_equal(saved, expected)
