"""How large is the exemplar's structure, and what training settings follow from it (torch only).

A discriminator can only ask for what it sees whole, so crop size, working resolution and the
discriminator's field follow from the size of the exemplar's large structure: a stone, a brick,
a board. It is measured on the luminance power spectrum (Hann-windowed, since photos do not
tile): the structure size is the wavelength above which only STRUCTURE_QUANTILE of the
luminance variance lies, i.e. most of the image's contrast is in features no larger than it.
For stripes of period P this is P; for a cell noise of cell size S it is S (tests check both);
fine grain reads as a few pixels, bricks as their course or length.

Regular textures (tiles, bricks, boards) are also measured for their *lattice*: the period
vectors under which the texture repeats, from the peaks of its autocorrelation. A generator
with a local field cannot keep board seams straight over a whole texture; a PSGAN periodic latent
channel whose wave runs across them can (`wave_vector`; the trainer uses it for stripes only).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metrics import gaussian_blur
from .models import extended_gcd

STRUCTURE_QUANTILE = 0.2
MAX_SIDE = 512               # larger exemplars are measured on an area-downscaled copy

# The patch discriminator's field in its own pixels (3 stride-2 4x4 convs and a 3x3 head).
D_FIELD_PX = 38
MAX_CROP = 128               # largest training crop the defaults pick (CPU cost grows with its area)
MIN_CROP = 64


def luminance(image: torch.Tensor) -> torch.Tensor:
    """[C, H, W] -> [H, W]: Rec. 709 luma of the first three channels, or channel 0."""
    if image.shape[0] >= 3:
        return 0.2126 * image[0] + 0.7152 * image[1] + 0.0722 * image[2]
    return image[0]


def _measured_luminance(image: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Luminance in float64, area-downscaled to at most MAX_SIDE; and the downscale factor."""
    lum = luminance(image.double())
    factor = max(1, math.ceil(max(lum.shape) / MAX_SIDE))
    if factor > 1:
        lum = F.avg_pool2d(lum[None, None], factor)[0, 0]
    return lum, factor


def structure_size(image: torch.Tensor) -> float:
    """The structure size in pixels of one [C, H, W] exemplar (see the module doc)."""
    lum, factor = _measured_luminance(image)
    x = lum - lum.mean()
    h, w = x.shape
    win = torch.outer(torch.hann_window(h, periodic=False, dtype=x.dtype), torch.hann_window(w, periodic=False, dtype=x.dtype))
    power = torch.fft.fft2(x * win).abs() ** 2
    freq = torch.sqrt(torch.fft.fftfreq(h, dtype=x.dtype)[:, None] ** 2 + torch.fft.fftfreq(w, dtype=x.dtype)[None, :] ** 2)
    keep = (freq > 0) & (freq <= 0.5)
    f, p = freq[keep], power[keep]
    if float(p.sum()) <= 1e-12:
        return 2.0 * factor          # a flat image: nothing larger than a pixel pair
    order = torch.argsort(f)
    cum = torch.cumsum(p[order], 0) / p.sum()
    i = int(torch.searchsorted(cum, torch.tensor(STRUCTURE_QUANTILE, dtype=cum.dtype)))
    return factor / float(f[order][min(i, len(cum) - 1)])


# Lattice detection, on the high-passed luminance (the detail finer than a few pixels: joints, seams, edges),
# so that a grid of joints is not drowned by how the tiles' colours vary: its autocorrelation peaks at the
# lattice vectors. Measured on
# the quality suite: regular exemplars peak at 0.28-0.82 (bricks, bricks_large, planks, tiles), stochastic
# and cellular ones at 0.02-0.09, a brick photo at 0.20 with no consistent lattice (docs/quality-history.md).
REGULAR_PEAK = 0.15          # the strongest autocorrelation peak of a regular texture is above this ...
LATTICE_CONSISTENCY = 0.5    # ... and every point of its lattice (a, b, a+b, a-b) reaches this share of it
MIN_PERIOD_PX = 4
MAX_CANDIDATES = 64         # strong peaks paired in the basis search, shortest first


def _fine_detail(image: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The measured luminance less three 5-tap binomial blurs of it: the detail finer than ~2 px that makes
    joints and edges; and the downscale factor."""
    lum, factor = _measured_luminance(image)
    blurred = lum[None, None]
    for _ in range(3):
        blurred = gaussian_blur(blurred)
    return lum - blurred[0, 0], factor


def _autocorrelation(x: torch.Tensor) -> torch.Tensor:
    """Normalised autocorrelation of a [H, W] image at every lag, without wrap-around (zero-padded,
    each lag divided by its overlap, so photos that do not tile are measured fairly)."""
    h, w = x.shape
    padded = x.new_zeros(2 * h, 2 * w)
    padded[:h, :w] = x - x.mean()
    ones = torch.zeros_like(padded)
    ones[:h, :w] = 1
    ac = torch.fft.ifft2(torch.fft.fft2(padded).abs() ** 2).real
    overlap = torch.fft.ifft2(torch.fft.fft2(ones).abs() ** 2).real.clamp_min(1.0)
    ac = ac / overlap
    return ac / ac[0, 0].clamp_min(1e-12)


@dataclass
class Lattice:
    """Period vectors (dx, dy) in exemplar pixels: two for a grid (tiles, bricks), one for stripes (boards)."""
    periods: list[tuple[float, float]]
    peak: float               # the autocorrelation peak that made the texture count as regular


def lattice(image: torch.Tensor) -> Lattice | None:
    """The lattice of a regular [C, H, W] exemplar, or None when it has none (most textures).

    Lags up to a third of the image are searched (enough overlap to trust); the basis is the pair
    of autocorrelation peaks whose lattice points all correlate best, the smallest cell among near
    ties. Where the points between lattice points correlate as well (a ridge: boards that repeat
    across but not along), the texture is periodic in one direction only.
    """
    detail, factor = _fine_detail(image)
    ac = _autocorrelation(detail)
    h, w = detail.shape
    ry, rx = h // 3, w // 3
    # lags dy in [-ry, ry], dx in [-rx, rx]; ac is symmetric, so the map is too
    window = torch.roll(ac, (ry, rx), (0, 1))[:2 * ry + 1, :2 * rx + 1]

    def at(dx: int, dy: int) -> float | None:
        """The correlation at a lag, best within one pixel (lattice points are rounded)."""
        y, x = dy + ry, dx + rx
        if not (0 < y < 2 * ry and 0 < x < 2 * rx):
            return None
        return float(window[y - 1:y + 2, x - 1:x + 2].max())

    local_max = F.max_pool2d(window[None, None], 5, 1, 2)[0, 0]
    peaks = [(float(window[y, x]), x - rx, y - ry) for y, x in torch.nonzero(window == local_max).tolist()
             if (y - ry, x - rx) > (0, 0) and math.hypot(x - rx, y - ry) >= MIN_PERIOD_PX]
    best = max((p[0] for p in peaks), default=0.0)
    if best < REGULAR_PEAK:
        return None
    # A basis is among the shortest lattice vectors: pairing only the shortest strong peaks keeps a fine grid
    # (thousands of peaks) from costing seconds at start-up.
    strong = sorted((p[1:] for p in peaks if p[0] >= 0.4 * best), key=lambda v: math.hypot(*v))[:MAX_CANDIDATES]
    pairs = []
    for i, (x1, y1) in enumerate(strong):
        for x2, y2 in strong[i + 1:]:
            area = abs(x1 * y2 - x2 * y1)
            if area < 0.5 * math.hypot(x1, y1) * math.hypot(x2, y2):   # nearly parallel
                continue
            points = [v for v in (at(x1, y1), at(x2, y2), at(x1 + x2, y1 + y2), at(x1 - x2, y1 - y2)) if v is not None]
            if points:
                pairs.append((min(points), area, (x1, y1), (x2, y2)))
    if not pairs:
        return None
    top = max(p[0] for p in pairs)
    if top < LATTICE_CONSISTENCY * best:
        return None
    _, _, a, b = min((p for p in pairs if p[0] >= 0.85 * top), key=lambda p: p[1])
    combos = [a, b, (a[0] + b[0], a[1] + b[1]), (a[0] - b[0], a[1] - b[1])]
    halfway = [v for v in (at(round(x / 2), round(y / 2)) for x, y in combos) if v is not None]
    if max(halfway, default=0.0) > 0.8 * top:
        # a ridge: the shortest combination runs along the stripes; the period is across them
        along = min(combos, key=lambda v: math.hypot(*v))
        def spacing(v):   # how far v reaches across the stripes
            return abs(v[0] * along[1] - v[1] * along[0]) / math.hypot(*along)
        across = min((v for v in combos if spacing(v) >= MIN_PERIOD_PX), key=spacing, default=None)
        if across is None:   # stripes finer than MIN_PERIOD_PX: nothing a periodic channel could hold
            return None
        t = (across[0] * along[0] + across[1] * along[1]) / (along[0] ** 2 + along[1] ** 2)
        periods = [(across[0] - t * along[0], across[1] - t * along[1])]
    else:
        periods = [a, b]
    return Lattice([(float(x * factor), float(y * factor)) for x, y in periods], round(best, 3))


def wave_vector(period: tuple[float, float], pixels_per_cell: float) -> tuple[float, float]:
    """The wave across stripes of period vector (dx, dy) px, in cycles per latent cell:
    sin(2 pi k . x + phase) repeats under the period, and a random phase shifts the stripes."""
    x, y = period[0] / pixels_per_cell, period[1] / pixels_per_cell
    n = x * x + y * y
    return (x / n, y / n)


def grid_wave_vectors(periods: list[tuple[float, float]], pixels_per_cell: float) -> list[tuple[float, float]]:
    """The two waves of a 2D lattice, in cycles per latent cell: the reciprocal basis (k_i . a_j = 1 if
    i = j, else 0), Gauss-reduced to its two shortest vectors, so each wave has the longest period the
    grid allows (what a training crop holds most easily). With a random phase each, the two waves shift
    the grid anywhere in the plane."""
    (ax, ay), (bx, by) = [(x / pixels_per_cell, y / pixels_per_cell) for x, y in periods]
    det = ax * by - ay * bx
    k1, k2 = (by / det, -bx / det), (-ay / det, ax / det)
    def norm2(v):
        return v[0] * v[0] + v[1] * v[1]
    while True:   # Lagrange-Gauss reduction: subtract whole multiples until no shorter pair exists
        if norm2(k1) > norm2(k2):
            k1, k2 = k2, k1
        mu = round((k1[0] * k2[0] + k1[1] * k2[1]) / norm2(k1))
        if mu == 0:
            return [k1, k2]
        k2 = (k2[0] - mu * k1[0], k2[1] - mu * k1[1])


@dataclass
class GridFrame:
    """A grid as its cells are laid: rows across k_row, cut across the row direction a; a row's cells
    start `shear` of a cell on from the row before (0 for tiles, 0.5 for a running bond)."""
    waves: list[tuple[float, float]]   # [k_a, k_row], cycles per latent cell: k_a . a = 1, k_row . b = 1
    shear: float


def grid_frame(image: torch.Tensor, periods: list[tuple[float, float]], pixels_per_cell: float) -> GridFrame:
    """How the cells of a 2D lattice are laid (see GridFrame). The rows run along the joints that carry
    most of the detail: of the shortest waves of the lattice, the one where the high-passed luminance has
    most power (a brick wall's continuous bed joints, not its staggered head joints)."""
    detail, factor = _fine_detail(image)
    h, w = detail.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=detail.dtype) * factor, torch.arange(w, dtype=detail.dtype) * factor,
                            indexing="ij")
    k1, k2 = grid_wave_vectors(periods, 1.0)                   # cycles per exemplar pixel
    candidates = [k1, k2, (k1[0] + k2[0], k1[1] + k2[1]), (k1[0] - k2[0], k1[1] - k2[1])]
    def power(k):
        phase = 2 * math.pi * (k[0] * xs + k[1] * ys)
        return float((detail * torch.cos(phase)).sum() ** 2 + (detail * torch.sin(phase)).sum() ** 2)
    k_row = max(candidates, key=power)
    # integer coordinates of k_row on the lattice basis, then the lattice vectors a (along the rows) and b
    p1, p2 = periods
    c1 = round(k_row[0] * p1[0] + k_row[1] * p1[1])
    c2 = round(k_row[0] * p2[0] + k_row[1] * p2[1])
    g, i, j = extended_gcd(c1, c2)
    a = ((c2 // g) * p1[0] - (c1 // g) * p2[0], (c2 // g) * p1[1] - (c1 // g) * p2[1])
    b = (i * p1[0] + j * p2[0], i * p1[1] + j * p2[1])
    shear = (a[0] * b[0] + a[1] * b[1]) / (a[0] ** 2 + a[1] ** 2)
    b = (b[0] - math.floor(shear) * a[0], b[1] - math.floor(shear) * a[1])
    shear -= math.floor(shear)
    det = a[0] * b[1] - a[1] * b[0]
    k_a = (b[1] / det, -b[0] / det)          # k_a . a = 1, k_a . b = 0
    k_row = (-a[1] / det, a[0] / det)        # k_row . a = 0, k_row . b = 1 (its sign follows b)
    return GridFrame([(k_a[0] * pixels_per_cell, k_a[1] * pixels_per_cell),
                      (k_row[0] * pixels_per_cell, k_row[1] * pixels_per_cell)], round(shear, 6))


@dataclass
class Plan:
    """Training settings chosen from the structure size, with the reason in words."""
    structure_px: float
    size: int                 # training crop, working pixels
    work_scale: float         # working resolution / exemplar resolution (1 = as is)
    d_scales: int
    why: str


def plan_training(structure_px: float, min_side: int, g_scale: int, size: int = 0, work_scale: float = 0.0,
                  d_scales: int = 0, min_d_input: int = 16) -> Plan:
    """Crop, working resolution and discriminator scales for a structure of `structure_px`.

    A crop holds about 2.5 structures (whole ones, with neighbours) up to MAX_CROP; larger
    structure is trained on a downscaled exemplar, so it fits, and export paints at the
    exemplar's scale again. D's coarsest scale sees at least 1.5 structures, and every scale's
    input is at least min_d_input px (a critic without padding needs its whole field). Arguments
    other than 0 are the user's and win.
    """
    want = 2.5 * structure_px
    scale = work_scale or (min(1.0, MAX_CROP / want) if want > MAX_CROP else 1.0)
    if not work_scale and scale < 1.0:
        scale = 2.0 ** math.floor(math.log2(scale))      # whole octaves keep export exact
    s_work = structure_px * scale
    crop = size or int(min(MAX_CROP, max(MIN_CROP, 32 * math.ceil(2.5 * s_work / 32))))
    crop = min(crop, int(min_side * scale) // g_scale * g_scale)
    scales = d_scales or 1
    if not d_scales:
        while scales < 4 and D_FIELD_PX * 2 ** (scales - 1) < 1.5 * s_work and crop // 2 ** scales >= min_d_input:
            scales += 1
        if crop // 2 >= min_d_input:
            scales = max(scales, 2)
    why = (f"structure ~{structure_px:.0f} px: crop {crop} px"
           + (f" at 1/{round(1 / scale)} resolution (structure larger than a {MAX_CROP} px crop holds)" if scale < 1 else "")
           + f", {scales} discriminator scale{'s' if scales > 1 else ''} (field {D_FIELD_PX * 2 ** (scales - 1)} px)")
    return Plan(structure_px, crop, scale, scales, why)
