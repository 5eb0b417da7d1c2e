"""An independent re-implementation of the ImageNet-C / CIFAR-10-C generation code for tests.

Written from make_imagenet_c.py and make_cifar_c.py (github.com/hendrycks/robustness,
ImageNet-C/create_c): each function follows the reference line by line, with ``rng`` (a numpy
Generator) in place of the global ``np.random``, skimage's ``channel_axis=-1`` for the old
``multichannel=True``, and the OpenCV / ImageMagick calls re-implemented below from their
definitions in plain loops, scipy or skimage (no jclip import). The table values are copied
from the reference files. ``quantize`` is the reference's final ``np.uint8``.
"""

import io

import numpy as np
import skimage as sk
from PIL import Image
from scipy import ndimage
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scizoom
from skimage.filters import gaussian

IMAGENET = {
    "gaussian_noise": [.08, .12, 0.18, 0.26, 0.38],
    "shot_noise": [60, 25, 12, 5, 3],
    "impulse_noise": [.03, .06, .09, 0.17, 0.27],
    "speckle_noise": [.15, .2, 0.35, 0.45, 0.6],
    "gaussian_blur": [1, 2, 3, 4, 6],
    "glass_blur": [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    "defocus_blur": [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)],
    "motion_blur": [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)],
    "zoom_blur": [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
                  np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)],
    "fog": [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)],
    "frost": [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
    "snow": [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
             (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
             (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)],
    "spatter": [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
                (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1),
                (0.67, 0.4, 1, 0.65, 1.5, 1)],
    "contrast": [0.4, .3, .2, .1, .05],
    "brightness": [.1, .2, .3, .4, .5],
    "saturate": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],
    "jpeg_compression": [25, 18, 15, 10, 7],
    "pixelate": [0.6, 0.5, 0.4, 0.3, 0.25],
    "elastic_transform": [(244 * 2, 244 * 0.7, 244 * 0.1), (244 * 2, 244 * 0.08, 244 * 0.2),
                          (244 * 0.05, 244 * 0.01, 244 * 0.02),
                          (244 * 0.07, 244 * 0.01, 244 * 0.02),
                          (244 * 0.12, 244 * 0.01, 244 * 0.02)],
}
IMSIZE = 32
CIFAR = {
    "gaussian_noise": [0.04, 0.06, .08, .09, .10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [.01, .02, .03, .05, .07],
    "speckle_noise": [.06, .1, .12, .16, .2],
    "gaussian_blur": [.4, .6, 0.7, .8, 1],
    "glass_blur": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    "zoom_blur": [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
                  np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)],
    "fog": [(.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    "spatter": [(0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
                (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
                (0.65, 0.1, 0.5, 0.68, 0.6, 1)],
    "contrast": [.75, .5, .4, .3, 0.15],
    "brightness": [.05, .1, .15, .2, .3],
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
    "jpeg_compression": [80, 65, 58, 50, 40],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "elastic_transform": [(IMSIZE * 0, IMSIZE * 0, IMSIZE * 0.08),
                          (IMSIZE * 0.05, IMSIZE * 0.2, IMSIZE * 0.07),
                          (IMSIZE * 0.08, IMSIZE * 0.06, IMSIZE * 0.06),
                          (IMSIZE * 0.1, IMSIZE * 0.04, IMSIZE * 0.05),
                          (IMSIZE * 0.1, IMSIZE * 0.03, IMSIZE * 0.03)],
}
TABLES = {"imagenet": IMAGENET, "cifar": CIFAR}
SIZES = {"imagenet": 224, "cifar": 32}


def quantize(x):
    return np.uint8(np.clip(np.asarray(x, np.float64), 0, 255))


# ----------------------------------------------------------------------- OpenCV, from its docs


def _pad101(x, r):
    """BORDER_REFLECT_101 padding of the first two axes by r (numpy's 'reflect')."""
    return np.pad(x, [(r, r), (r, r)] + [(0, 0)] * (x.ndim - 2), mode="reflect")


def cv2_filter2d(x, kernel):
    """dst(y, x) = sum_{i,j} k(i, j) src(y + i - ay, x + j - ax), REFLECT_101 border."""
    kh, kw = kernel.shape
    r = kh // 2
    p = _pad101(np.asarray(x, np.float64), r)
    out = np.zeros(np.shape(x), np.float64)
    h, w = np.shape(x)[:2]
    for i in range(kh):
        for j in range(kw):
            out += float(kernel[i, j]) * p[i:i + h, j:j + w]
    return out


def cv2_gaussian_blur(x, ksize, sigma):
    t = np.arange(ksize) - (ksize - 1) * 0.5
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    g /= g.sum()
    return cv2_filter2d(x, np.outer(g, g)).astype(x.dtype)


def cv2_blur3(x):
    return cv2_filter2d(x, np.full((3, 3), 1 / 9))


def disk(radius, alias_blur=0.1, dtype=np.float32):
    if radius <= 8:
        L = np.arange(-8, 8 + 1)
        ksize = 3
    else:
        L = np.arange(-radius, radius + 1)
        ksize = 5
    X, Y = np.meshgrid(L, L)
    aliased_disk = np.array((X ** 2 + Y ** 2) <= radius ** 2, dtype=dtype)
    aliased_disk /= np.sum(aliased_disk)
    return cv2_gaussian_blur(aliased_disk, ksize, alias_blur)


def cv2_warp_affine(image, M):
    """warpAffine, INTER_LINEAR, REFLECT_101: dst(x, y) = src(M^-1 (x, y)) with OpenCV's
    invertAffineTransform and its fixed-point source positions (AB_BITS 10, INTER_BITS 5):
    X = (round(A00 x 2^10) + round((A01 y + b0) 2^10) + 16) >> 5, position X / 32."""
    D = M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]
    D = 1.0 / D if D != 0 else 0.0
    A = np.array([[M[1, 1] * D, -M[0, 1] * D], [-M[1, 0] * D, M[0, 0] * D]])
    b = -A @ M[:, 2]
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    X = (np.rint(A[0, 0] * xs * 1024).astype(np.int64)
         + np.rint((A[0, 1] * ys + b[0]) * 1024).astype(np.int64) + 16) // 32
    Y = (np.rint(A[1, 0] * xs * 1024).astype(np.int64)
         + np.rint((A[1, 1] * ys + b[1]) * 1024).astype(np.int64) + 16) // 32
    sx, sy = X / 32.0, Y / 32.0
    out = np.empty_like(image)
    for ch in range(image.shape[2]):
        out[..., ch] = map_coordinates(image[..., ch], [sy, sx], order=1, mode="mirror")
    return out


def cv2_canny(img, low, high):
    """Canny as OpenCV computes it (3x3 Sobel with replicated border, |dx| + |dy|, its
    non-maximum suppression and hysteresis), one pixel at a time."""
    h, w = img.shape
    p = np.pad(img.astype(np.int64), 1, mode="edge")
    dx = np.zeros((h, w), np.int64)
    dy = np.zeros((h, w), np.int64)
    sob = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    for i in range(3):
        for j in range(3):
            dx += sob[i, j] * p[i:i + h, j:j + w]
            dy += sob[j, i] * p[i:i + h, j:j + w]
    mag = np.zeros((h + 2, w + 2), np.int64)
    mag[1:-1, 1:-1] = np.abs(dx) + np.abs(dy)
    tg22 = int(0.4142135623730950488016887242097 * (1 << 15) + 0.5)
    state = np.ones((h, w), np.int64)  # 1 none, 0 candidate, 2 edge
    stack = []
    for y in range(h):
        for x in range(w):
            m = mag[y + 1, x + 1]
            if m <= int(low):
                continue
            ax, ay = abs(int(dx[y, x])), abs(int(dy[y, x])) << 15
            t22 = ax * tg22
            if ay < t22:
                ok = m > mag[y + 1, x] and m >= mag[y + 1, x + 2]
            elif ay > t22 + (ax << 16):
                ok = m > mag[y, x + 1] and m >= mag[y + 2, x + 1]
            else:
                s = -1 if (int(dx[y, x]) ^ int(dy[y, x])) < 0 else 1
                ok = m > mag[y, x + 1 - s] and m > mag[y + 2, x + 1 + s]
            if ok:
                state[y, x] = 2 if m > int(high) else 0
                if m > int(high):
                    stack.append((y, x))
    while stack:
        y, x = stack.pop()
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                yy, xx = y + i, x + j
                if 0 <= yy < h and 0 <= xx < w and state[yy, xx] == 0:
                    state[yy, xx] = 2
                    stack.append((yy, xx))
    return np.where(state == 2, 255, 0).astype(np.uint8)


def cv2_distance_transform(src):
    """distanceTransform(src, DIST_L2, 5): OpenCV's two chamfer passes, 16-bit fixed point."""
    a, b, c = round(1.0 * 65536), round(1.4 * 65536), round(2.1969 * 65536)
    h, w = src.shape
    inf = 2 ** 31 - 1
    t = [[inf] * (w + 4) for _ in range(h + 4)]
    fwd = [(-2, -1, c), (-2, 1, c), (-1, -2, c), (-1, -1, b), (-1, 0, a), (-1, 1, b),
           (-1, 2, c), (0, -1, a)]
    for i in range(h):
        for j in range(w):
            if src[i, j] == 0:
                t[i + 2][j + 2] = 0
            else:
                t[i + 2][j + 2] = min(t[i + 2 + di][j + 2 + dj] + d for di, dj, d in fwd)
    out = np.zeros((h, w), np.float32)
    for i in range(h - 1, -1, -1):
        for j in range(w - 1, -1, -1):
            v = t[i + 2][j + 2]
            if v > a:
                v = min([v] + [t[i + 2 - di][j + 2 - dj] + d for di, dj, d in fwd])
                t[i + 2][j + 2] = v
            out[i, j] = np.float32(v / 65536)
    return out


def cv2_equalize_hist(src):
    hist = np.bincount(src.ravel(), minlength=256)
    i = 0
    while not hist[i]:
        i += 1
    total = src.size
    if hist[i] == total:
        return np.full_like(src, i)
    scale = np.float32(255.0) / np.float32(total - hist[i])
    lut = np.zeros(256, np.uint8)
    acc = 0
    for j in range(i + 1, 256):
        acc += int(hist[j])
        lut[j] = min(255, max(0, int(np.rint(np.float32(acc) * scale))))
    return lut[src]


def motion_kernel_2d(radius, sigma, angle):
    """ImageMagick MotionBlurImage as one 2-D correlation kernel (offsets from its source:
    width = 2 ceil(radius) + 1, tap i at (ceil(i cos a - 0.5), ceil(i sin a - 0.5)), weight
    exp(-i^2 / (2 sigma^2)) normalised), centred in a (2 width + 1)^2 grid."""
    width = int(2.0 * np.ceil(radius) + 1.0)
    grid = np.zeros((2 * width + 1, 2 * width + 1))
    weights = [np.exp(-(i * i) / (2.0 * sigma * sigma)) for i in range(width)]
    total = sum(weights)
    a = angle * np.pi / 180
    for i in range(width):
        ox = int(np.ceil(i * np.cos(a) - 0.5))
        oy = int(np.ceil(i * np.sin(a) - 0.5))
        grid[width + oy, width + ox] += weights[i] / total
    return grid


def wand_motion_blur(x, radius, sigma, angle):
    """uint8 [H, W(, C)] -> uint8: the kernel over edge-repeated pixels, rounded (8-bit PNG)."""
    k = motion_kernel_2d(radius, sigma, angle)
    x = np.asarray(x, np.float64)
    if x.ndim == 3:
        out = np.stack([ndimage.correlate(x[..., ch], k, mode="nearest")
                        for ch in range(x.shape[2])], -1)
    else:
        out = ndimage.correlate(x, k, mode="nearest")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------- the reference


def plasma_fractal(rng, mapsize=256, wibbledecay=3):
    assert (mapsize & (mapsize - 1) == 0)
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize = mapsize
    wibble = 100

    def wibbledmean(array):
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    def fillsquares():
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[stepsize // 2:mapsize:stepsize,
                 stepsize // 2:mapsize:stepsize] = wibbledmean(squareaccum)

    def filldiamonds():
        mapsize = maparray.shape[0]
        drgrid = maparray[stepsize // 2:mapsize:stepsize, stepsize // 2:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ldrsum = drgrid + np.roll(drgrid, 1, axis=0)
        lulsum = ulgrid + np.roll(ulgrid, -1, axis=1)
        ltsum = ldrsum + lulsum
        maparray[0:mapsize:stepsize, stepsize // 2:mapsize:stepsize] = wibbledmean(ltsum)
        tdrsum = drgrid + np.roll(drgrid, 1, axis=1)
        tulsum = ulgrid + np.roll(ulgrid, -1, axis=0)
        ttsum = tdrsum + tulsum
        maparray[stepsize // 2:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)

    while stepsize >= 2:
        fillsquares()
        filldiamonds()
        stepsize //= 2
        wibble /= wibbledecay

    maparray -= maparray.min()
    return maparray / maparray.max()


def clipped_zoom(img, zoom_factor):
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = scizoom(img[top:top + ch, top:top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top:trim_top + h, trim_top:trim_top + h]


def gaussian_noise(x, c, rng, size):
    x = np.array(x) / 255.
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x, c, rng, size):
    x = np.array(x) / 255.
    return np.clip(rng.poisson(x * c) / c, 0, 1) * 255


def impulse_noise(x, c, rng, size):
    x = sk.util.random_noise(np.array(x) / 255., mode='s&p', amount=c, rng=rng)
    return np.clip(x, 0, 1) * 255


def speckle_noise(x, c, rng, size):
    x = np.array(x) / 255.
    return np.clip(x + x * rng.normal(size=x.shape, scale=c), 0, 1) * 255


def gaussian_blur(x, c, rng, size):
    x = gaussian(np.array(x) / 255., sigma=c, channel_axis=-1)
    return np.clip(x, 0, 1) * 255


def glass_blur(x, c, rng, size):
    x = np.uint8(gaussian(np.array(x) / 255., sigma=c[0], channel_axis=-1) * 255)
    for _i in range(c[2]):
        for h in range(size - c[1], c[1], -1):
            for w in range(size - c[1], c[1], -1):
                dx, dy = rng.integers(-c[1], c[1], size=(2,))
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return np.clip(gaussian(x / 255., sigma=c[0], channel_axis=-1), 0, 1) * 255


def defocus_blur(x, c, rng, size):
    x = np.array(x) / 255.
    kernel = disk(radius=c[0], alias_blur=c[1])
    channels = []
    for d in range(3):
        channels.append(cv2_filter2d(x[:, :, d], kernel))
    channels = np.array(channels).transpose((1, 2, 0))
    return np.clip(channels, 0, 1) * 255


def motion_blur(x, c, rng, size):
    x = np.asarray(Image.open(_png(x)))
    x = wand_motion_blur(x, c[0], c[1], rng.uniform(-45, 45))
    return np.clip(x, 0, 255)


def zoom_blur(x, c, rng, size):
    x = (np.array(x) / 255.).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in c:
        out += clipped_zoom(x, zoom_factor)
    x = (x + out) / (len(c) + 1)
    return np.clip(x, 0, 1) * 255


def fog(x, c, rng, size):
    x = np.array(x) / 255.
    max_val = x.max()
    mapsize = 256 if size == 224 else 32
    x += c[0] * plasma_fractal(rng, mapsize=mapsize, wibbledecay=c[1])[:size, :size][
        ..., np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def cv2_resize_linear(img, f):
    """cv2.resize(img, (0, 0), fx=f, fy=f), INTER_LINEAR: dst(i) = src((i + 0.5) / f - 0.5)."""
    h, w = img.shape[:2]
    oh, ow = int(round(h * f)), int(round(w * f))
    sy = np.clip((np.arange(oh) + 0.5) / f - 0.5, 0, h - 1)
    sx = np.clip((np.arange(ow) + 0.5) / f - 0.5, 0, w - 1)
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (sy - y0)[:, None, None], (sx - x0)[None, :, None]
    img = img.astype(np.float64)
    out = (img[y0][:, x0] * (1 - fy) * (1 - fx) + img[y0][:, x1] * (1 - fy) * fx
           + img[y1][:, x0] * fy * (1 - fx) + img[y1][:, x1] * fy * fx)
    return np.round(out).astype(np.uint8)


def frost(x, c, rng, size, files):
    idx = rng.integers(5)
    filename = files[idx]
    frost = np.asarray(Image.open(filename).convert("RGB"))[..., ::-1]  # cv2.imread: BGR
    if size == 32:
        frost = cv2_resize_linear(frost, 0.2)
    x_start, y_start = rng.integers(0, frost.shape[0] - size), rng.integers(
        0, frost.shape[1] - size)
    frost = frost[x_start:x_start + size, y_start:y_start + size][..., [2, 1, 0]]
    return np.clip(c[0] * np.array(x) + c[1] * frost, 0, 255)


def _png(array):
    out = io.BytesIO()
    Image.fromarray(np.asarray(array)).save(out, format="PNG")
    out.seek(0)
    return out


def snow(x, c, rng, size):
    x = np.array(x, dtype=np.float32) / 255.
    snow_layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    snow_layer = clipped_zoom(snow_layer[..., np.newaxis], c[2])
    snow_layer[snow_layer < c[3]] = 0
    snow_layer = Image.fromarray((np.clip(snow_layer.squeeze(), 0, 1) * 255).astype(np.uint8),
                                 mode='L')
    snow_layer = np.asarray(Image.open(_png(snow_layer)))
    snow_layer = wand_motion_blur(snow_layer, c[4], c[5], rng.uniform(-135, -45)) / 255.
    snow_layer = snow_layer[..., np.newaxis]
    grey = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114  # cv2 RGB2GRAY
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey.reshape(size, size, 1) * 1.5 + 0.5)
    return np.clip(x + snow_layer + np.rot90(snow_layer, k=2), 0, 1) * 255


def spatter(x, c, rng, size):
    x = np.array(x, dtype=np.float32) / 255.
    liquid_layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    liquid_layer = gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0
    if c[5] == 0:
        liquid_layer = (liquid_layer * 255).astype(np.uint8)
        dist = 255 - cv2_canny(liquid_layer, 50, 150)
        dist = cv2_distance_transform(dist)
        dist = np.minimum(dist, 20)  # cv2.threshold(dist, 20, 20, THRESH_TRUNC)
        dist = cv2_blur3(dist).astype(np.float32).astype(np.uint8)
        dist = cv2_equalize_hist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = np.clip(np.rint(cv2_filter2d(dist, ker)), 0, 255).astype(np.uint8)  # CV_8U
        dist = np.clip(np.rint(cv2_blur3(dist)), 0, 255).astype(np.uint8).astype(np.float32)
        m = np.repeat((liquid_layer * dist)[..., None], 4, axis=2)  # GRAY2BGRA
        m[..., 3] = 1
        m /= np.max(m, axis=(0, 1))
        m *= c[4]
        color = np.concatenate((175 / 255. * np.ones_like(m[..., :1]),
                                238 / 255. * np.ones_like(m[..., :1]),
                                238 / 255. * np.ones_like(m[..., :1]),
                                np.ones_like(m[..., :1])), axis=2)  # BGR2BGRA
        x = np.concatenate([x, np.ones_like(x[..., :1])], axis=2)
        return np.clip(x + m * color, 0, 1)[..., :3] * 255
    else:
        m = np.where(liquid_layer > c[3], 1, 0)
        m = gaussian(m.astype(np.float32), sigma=c[4])
        m[m < 0.8] = 0
        color = np.concatenate((63 / 255. * np.ones_like(x[..., :1]),
                                42 / 255. * np.ones_like(x[..., :1]),
                                20 / 255. * np.ones_like(x[..., :1])), axis=2)
        color *= m[..., np.newaxis]
        x *= (1 - m[..., np.newaxis])
        return np.clip(x + color, 0, 1) * 255


def contrast(x, c, rng, size):
    x = np.array(x) / 255.
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def brightness(x, c, rng, size):
    x = np.array(x) / 255.
    x = sk.color.rgb2hsv(x)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    x = sk.color.hsv2rgb(x)
    return np.clip(x, 0, 1) * 255


def saturate(x, c, rng, size):
    x = np.array(x) / 255.
    x = sk.color.rgb2hsv(x)
    x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
    x = sk.color.hsv2rgb(x)
    return np.clip(x, 0, 1) * 255


def jpeg_compression(x, c, rng, size):
    output = io.BytesIO()
    Image.fromarray(x).save(output, 'JPEG', quality=c)
    return np.asarray(Image.open(output))


def pixelate(x, c, rng, size):
    x = Image.fromarray(x)
    x = x.resize((int(size * c), int(size * c)), Image.BOX)
    return np.asarray(x.resize((size, size), Image.BOX))


def elastic_transform(image, c, rng, size):
    image = np.array(image, dtype=np.float32) / 255.
    shape = image.shape
    shape_size = shape[:2]
    center_square = np.float32(shape_size) // 2
    square_size = min(shape_size) // 3
    pts1 = np.float32([center_square + square_size,
                       [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + rng.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    M = sk.transform.estimate_transform("affine", pts1, pts2).params[:2]
    image = cv2_warp_affine(image, M)
    dx = (gaussian(rng.uniform(-1, 1, size=shape[:2]),
                   c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dy = (gaussian(rng.uniform(-1, 1, size=shape[:2]),
                   c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    return np.clip(map_coordinates(image, indices, order=1, mode='reflect').reshape(shape), 0,
                   1) * 255


FUNCTIONS = {name: globals()[name] for name in IMAGENET}


def corrupt(x, name, severity, rng, table="imagenet", **kw):
    """The reference's corruption of one uint8 [S, S, 3] image, quantised as it saves it."""
    c = TABLES[table][name][severity - 1]
    return quantize(FUNCTIONS[name](x, c, rng, SIZES[table], **kw))
