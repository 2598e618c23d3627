"""Procedurally generate the embedded PBR texture exemplars (CC0, made by this project).

Why procedural: the project needs exemplars it may ship and relicense freely, that exist
without network access, and that are *exactly* seamless, so that seam metrics measured on
them mean something. Every building block below lives on a torus:

* noise is FFT-filtered white noise (periodic by construction),
* Voronoi cells use wrap-around distances,
* regular layouts (bricks, boards) use whole periods across the image.

So each map tiles without a seam, and a 2x2 tiling shows no edge. The textures carry detail
at several scales and repeat their main structure many times inside one image, which gives
a GAN stationary statistics to learn.

Output, per exemplar ``gan_core/exemplars/<name>/``:
  basecolor.png  8-bit sRGB RGB (palette chosen directly in sRGB)
  height.png     16-bit grayscale ("I;16"), linear 0..1 -> 0..65535
  roughness.png  8-bit grayscale, linear 0..1 -> 0..255

Deterministic: fixed seeds, numpy + Pillow only. Regenerate with
    .venv/bin/python gan_core/exemplars/make_exemplars.py
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

SIZE = 256
OUT_DIR = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------
# Periodic building blocks
# --------------------------------------------------------------------------------------


def _standardize(a: np.ndarray) -> np.ndarray:
    """Zero mean, unit std, so noise amplitudes below are in comparable units."""
    return (a - a.mean()) / (a.std() + 1e-12)


def fft_noise(rng: np.random.Generator, size: int = SIZE, beta: float = 2.0,
              f_lo: float = 1.0, f_hi: float | None = None,
              stretch: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Power-law (1/f^beta) noise from filtered white noise; periodic because the FFT is.

    ``f_lo``/``f_hi`` band-limit the spectrum in cycles per image, so "no feature larger
    than size/f_lo" is explicit. ``stretch=(sy, sx)`` makes features longer along the axis
    with the larger factor (wood grain). Returns a standardized [size, size] array.

    In 2-D, beta <= 2 is rough, speckle-like noise (grain, grit); beta ~3.5-4 gives smooth
    blobs (warps, mottling, clump layouts). Pick beta by the look wanted, not by habit.
    """
    white = rng.standard_normal((size, size))
    fy = np.fft.fftfreq(size)[:, None] * size
    fx = np.fft.fftfreq(size)[None, :] * size
    r = np.sqrt((fy * stretch[0]) ** 2 + (fx * stretch[1]) ** 2)
    amp = np.zeros_like(r)
    nz = r > 0
    amp[nz] = r[nz] ** (-beta / 2.0)
    amp *= 1.0 / (1.0 + np.exp(-(r - f_lo) * 2.0))          # soft high-pass at f_lo
    if f_hi is not None:
        amp *= 1.0 / (1.0 + np.exp((r - f_hi) * 0.5))       # soft low-pass at f_hi
    return _standardize(np.real(np.fft.ifft2(np.fft.fft2(white) * amp)))


def wrap_delta(a: np.ndarray, b: np.ndarray, period: float) -> np.ndarray:
    """Shortest signed difference a - b on a circle of the given period."""
    d = (a - b) % period
    return np.where(d > period / 2, d - period, d)


def _torus_offsets(py: np.ndarray, px: np.ndarray, yy: np.ndarray, xx: np.ndarray,
                   size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wrap-around offsets [H, W, P] from every point to every pixel, and their lengths."""
    dy = wrap_delta(yy[..., None], py, size)
    dx = wrap_delta(xx[..., None], px, size)
    return dy, dx, np.sqrt(dy ** 2 + dx ** 2)


def voronoi_torus(rng: np.random.Generator, n_points: int, warp: np.ndarray | None = None,
                  size: int = SIZE, relax: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voronoi F1, F2 distances and nearest-cell id on a torus (wrap-around distances).

    Points start uniform and get ``relax`` Lloyd steps (move each point to its cell's
    centroid) so cells have similar sizes. Not a jittered grid: that concentrates cell
    borders on the grid lines, a periodic bias a GAN would learn (and one grid line is the
    tile edge). ``warp`` (2, H, W), periodic, displaces lookups for irregular outlines.
    """
    py, px = rng.random(n_points) * size, rng.random(n_points) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    for _ in range(relax):
        dy, dx, d = _torus_offsets(py, px, yy, xx, size)
        nearest = np.argmin(d, axis=-1)
        pick = nearest[..., None]
        count = np.bincount(nearest.ravel(), minlength=n_points).clip(min=1)
        py = (py + np.bincount(nearest.ravel(), np.take_along_axis(dy, pick, -1).ravel(),
                               n_points) / count) % size
        px = (px + np.bincount(nearest.ravel(), np.take_along_axis(dx, pick, -1).ravel(),
                               n_points) / count) % size
    if warp is not None:
        yy, xx = yy + warp[0], xx + warp[1]
    _, _, d = _torus_offsets(py, px, yy, xx, size)
    order = np.argsort(d, axis=-1)[..., :2]
    f1 = np.take_along_axis(d, order[..., :1], -1)[..., 0]
    f2 = np.take_along_axis(d, order[..., 1:2], -1)[..., 0]
    return f1, f2, order[..., 0]


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def lerp(a, b, t):
    """Blend colours: a, b [..., 3] or scalars, t [...] broadcast over the colour axis."""
    t = np.asarray(t)
    if np.ndim(a) and np.shape(a)[-1] == 3 and t.ndim and t.shape[-1] != 3:
        t = t[..., None]
    return a + (b - a) * t


def rgb(*c: float) -> np.ndarray:
    return np.array(c, dtype=np.float64) / 255.0


# --------------------------------------------------------------------------------------
# Materials: each returns (basecolor [H,W,3], height [H,W], roughness [H,W]) in 0..1
# --------------------------------------------------------------------------------------

Maps = tuple[np.ndarray, np.ndarray, np.ndarray]


def make_bricks(rng: np.random.Generator, size: int = SIZE) -> Maps:
    """Running-bond wall: 8 rows x 4 bricks, so the bond repeats exactly across the tile."""
    rows, cols = 8, 4
    bh, bw = size // rows, size // cols
    warp = 0.9 * np.stack([fft_noise(rng, size=size, beta=4.0, f_lo=4), fft_noise(rng, size=size, beta=4.0, f_lo=4)])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    yy, xx = yy + warp[0], xx + warp[1]
    row = np.floor(yy / bh).astype(int) % rows
    xs = (xx + (row % 2) * bw / 2) % size
    col = np.floor(xs / bw).astype(int) % cols
    yl, xl = yy % bh, xs % bw
    edge = np.minimum(np.minimum(yl, bh - yl), np.minimum(xl, bw - xl))  # px to brick edge
    brick_id = row * cols + col

    chip = fft_noise(rng, size=size, beta=3.0, f_lo=8)                    # chipped, uneven edges
    mortar_half = 2.4 + 0.35 * chip
    brick_mask = smoothstep(0.0, 1.2, edge - mortar_half)
    bevel = smoothstep(0.0, 4.0, edge - mortar_half)

    # Per-brick tone: a few clay colours, brightness jitter, some over-fired (dark) bricks.
    clays = np.stack([rgb(150, 66, 46), rgb(128, 56, 42), rgb(165, 88, 60),
                      rgb(112, 50, 40), rgb(140, 76, 52)])
    n = rows * cols
    tone = clays[rng.integers(0, len(clays), n)] * rng.uniform(0.82, 1.15, (n, 1))
    dark = rng.random(n) < 0.15
    tone[dark] *= 0.62
    base = tone[brick_id]

    mottle = fft_noise(rng, size=size, beta=3.0, f_lo=6)
    grain = fft_noise(rng, size=size, beta=0.6, f_lo=20)                  # sandy speckle
    soot = smoothstep(0.6, 1.8, fft_noise(rng, size=size, beta=3.5, f_lo=3))
    brick_col = base * (1.0 + 0.09 * mottle[..., None] + 0.06 * grain[..., None])
    brick_col = lerp(brick_col, brick_col * 0.55, 0.5 * soot)
    brick_col = lerp(brick_col * 0.85, brick_col, 0.4 + 0.6 * bevel)  # darker worn edges

    mortar_col = rgb(172, 164, 150) * (1.0 + 0.07 * fft_noise(rng, size=size, beta=1.0, f_lo=10)[..., None])
    mortar_col = lerp(mortar_col, mortar_col * 0.7, 0.4 * soot)
    color = lerp(mortar_col, brick_col, brick_mask)

    pits = np.clip(fft_noise(rng, size=size, beta=0.3, f_lo=30) - 1.6, 0, None)
    height = (0.18 + 0.06 * fft_noise(rng, size=size, beta=1.0, f_lo=10)) * (1 - brick_mask) \
        + brick_mask * (0.55 + 0.35 * bevel + 0.03 * mottle + 0.02 * grain - 0.08 * pits)
    color = color * (1.0 - 0.25 * pits[..., None] * brick_mask[..., None])
    rough = lerp(0.95, 0.78 + 0.05 * grain, brick_mask)
    return color, height, rough


def make_cobbles(rng: np.random.Generator, size: int = SIZE, n_cells: int = 64) -> Maps:
    """Voronoi cobblestones on a torus, domed per cell, dirt and grit in the gaps."""
    warp = 3.0 * np.stack([fft_noise(rng, size=size, beta=4.0, f_lo=3), fft_noise(rng, size=size, beta=4.0, f_lo=3)])
    f1, f2, cid = voronoi_torus(rng, n_cells, warp, size=size)
    gap = f2 - f1                                               # ~2x distance to cell border
    stone = smoothstep(3.0, 3.8, gap + 0.5 * fft_noise(rng, size=size, beta=3.5, f_lo=6))
    dome = np.sqrt(smoothstep(3.0, 16.0, gap))                 # rounded profile

    n = cid.max() + 1
    greys = np.stack([rgb(128, 124, 118), rgb(110, 104, 98), rgb(140, 132, 120),
                      rgb(96, 94, 92), rgb(122, 112, 100)])
    tone = greys[rng.integers(0, len(greys), n)] * rng.uniform(0.85, 1.15, (n, 1))
    mottle = fft_noise(rng, size=size, beta=3.5, f_lo=6)
    grit = fft_noise(rng, size=size, beta=0.2, f_lo=40)                    # granite speckle
    stone_col = tone[cid] * (1.0 + 0.07 * mottle[..., None] + 0.05 * grit[..., None])
    stone_col = lerp(stone_col * 0.72, stone_col, smoothstep(0.0, 0.6, dome))  # edge grime

    dirt = fft_noise(rng, size=size, beta=2.0, f_lo=8)
    dirt_col = lerp(rgb(52, 42, 32), rgb(84, 70, 52), smoothstep(-1.5, 1.5, dirt))
    dirt_col = dirt_col * (1.0 + 0.15 * grit[..., None])
    color = lerp(dirt_col, stone_col, stone)

    height = (0.12 + 0.05 * dirt) * (1 - stone) \
        + stone * (0.35 + 0.55 * dome + 0.03 * mottle + 0.015 * grit)
    rough = lerp(0.97, 0.7 - 0.08 * dome + 0.04 * grit, stone)
    return color, height, rough


def make_planks(rng: np.random.Generator, size: int = SIZE) -> Maps:
    """Horizontal boards: grain along x from stretched noise plus distorted growth rings."""
    boards = 8
    bh = size // boards
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    board = (yy // bh).astype(int)
    yl = yy % bh

    # End joints: each board has 1-2 butt seams at random x, at least a third of the tile
    # apart; wrap-around distances keep the joints (and piece ids) periodic.
    joint_dist = np.full((size, size), np.inf)
    seg_id = np.zeros((size, size), dtype=int)
    for b in range(boards):
        first = rng.uniform(0, size)
        cuts = [first] if rng.random() < 0.5 else [first, first + rng.uniform(0.35, 0.65) * size]
        cuts = np.sort(np.array(cuts) % size)
        m = board == b
        x = xx[m]
        joint_dist[m] = np.min(np.abs(wrap_delta(x[:, None], cuts[None, :], size)), axis=1)
        seg_id[m] = b * 4 + np.searchsorted(cuts, x) % len(cuts)

    edge = np.minimum(np.minimum(yl, bh - yl), joint_dist)
    seam = 1.0 - smoothstep(0.4, 1.6, edge)
    bevel = smoothstep(0.5, 3.0, edge)

    # Growth rings: contour lines of a slowly varying "radius" field. The distortion is
    # stretched along x so lines run with the board and sway into cathedral-like arcs.
    n_seg = boards * 4
    distort = fft_noise(rng, size=size, beta=3.0, f_lo=1, stretch=(1.0, 6.0))
    fibre = fft_noise(rng, size=size, beta=0.8, f_lo=8, stretch=(1.0, 30.0))   # fine pores along x
    ring_freq = rng.uniform(0.09, 0.16, n_seg)[seg_id]              # 6-11 px ring spacing
    phase = rng.uniform(0, 100, n_seg)[seg_id]
    v = (yl + phase + 9.0 * distort) * ring_freq
    t = v % 1.0
    late = smoothstep(0.55, 0.85, t) * (1 - smoothstep(0.9, 1.0, t))  # dark latewood band

    tones = np.stack([rgb(176, 124, 76), rgb(158, 106, 62), rgb(190, 142, 92),
                      rgb(144, 96, 58), rgb(168, 116, 70)])
    tone = tones[rng.integers(0, len(tones), n_seg)] * rng.uniform(0.9, 1.1, (n_seg, 1))
    base = tone[seg_id]
    color = base * (1.0 - 0.3 * late[..., None] + 0.035 * fibre[..., None]
                    + 0.05 * distort[..., None])
    color = lerp(color * 0.82, color, bevel)
    color = lerp(color, rgb(38, 26, 18), 0.9 * seam)

    height = (0.75 + 0.2 * bevel - 0.04 * late + 0.015 * fibre) * (1 - seam) + 0.05 * seam
    rough = 0.55 + 0.12 * late + 0.03 * fibre + 0.3 * seam
    return color, height, rough


def make_moss(rng: np.random.Generator, size: int = SIZE) -> Maps:
    """Mossy ground: cushions of moss over soil, pale lichen rosettes; no regular structure."""
    clumps = fft_noise(rng, size=size, beta=3.5, f_lo=5)                # cushion layout, ~20-50 px
    mid = fft_noise(rng, size=size, beta=2.5, f_lo=12)
    fuzz = fft_noise(rng, size=size, beta=0.6, f_lo=30)                 # fibrous moss surface
    cover = clumps + 0.15 * mid
    moss = smoothstep(-0.5, 0.1, cover)
    cushion = smoothstep(-0.5, 1.5, cover)                   # rounded tops, darker flanks

    moss_col = lerp(rgb(48, 68, 24), rgb(118, 138, 46), smoothstep(-1.6, 1.6, mid + 0.3 * fuzz))
    moss_col = lerp(moss_col * 0.6, moss_col, cushion)
    moss_col = moss_col * (1.0 + 0.1 * fuzz[..., None])
    soil_col = lerp(rgb(54, 42, 32), rgb(96, 80, 60), smoothstep(-1.5, 1.5, mid))
    soil_col = soil_col * (1.0 + 0.08 * fuzz[..., None])
    color = lerp(soil_col, moss_col, moss)

    f1, _, _ = voronoi_torus(rng, 144 * (size // SIZE) ** 2, size=size)                         # lichen rosettes
    lichen_field = fft_noise(rng, size=size, beta=3.5, f_lo=4)
    lichen = (1.0 - smoothstep(2.0, 5.0, f1 + 1.0 * mid)) * smoothstep(0.3, 1.0, lichen_field)
    color = lerp(color, rgb(176, 180, 142) * (1 + 0.08 * fuzz[..., None]), 0.8 * lichen)

    height = 0.2 + 0.35 * moss + 0.1 * cushion + 0.04 * mid + 0.03 * fuzz * moss + 0.04 * lichen
    rough = 0.85 + 0.1 * moss + 0.02 * fuzz - 0.1 * lichen
    return color, height, rough



def cell_noise(rng: np.random.Generator, size: int, cell: float, jitter: float = 0.8
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worley cells of a known size on a torus: one jittered seed per grid square of `cell` px.

    Returns (f1, f2, cell id) like voronoi_torus, but looks at the 3x3 neighbouring squares
    only, so 512 px images with hundreds of cells stay cheap. The grid has a whole number
    of squares across the image, so the cells tile exactly; mean cell spacing = size / n.
    """
    n = max(2, round(size / cell))
    g = size / n
    sy = (np.arange(n)[:, None] + 0.5 + jitter * (rng.random((n, n)) - 0.5)) * g
    sx = (np.arange(n)[None, :] + 0.5 + jitter * (rng.random((n, n)) - 0.5)) * g
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    gy, gx = (yy // g).astype(int), (xx // g).astype(int)
    ds, ids = [], []
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            cy, cx = (gy + oy) % n, (gx + ox) % n
            dy = wrap_delta(yy, sy[cy, cx], size)
            dx = wrap_delta(xx, sx[cy, cx], size)
            ds.append(np.hypot(dy, dx))
            ids.append(cy * n + cx)
    ds, ids = np.stack(ds), np.stack(ids)
    order = np.argsort(ds, axis=0)
    f1 = np.take_along_axis(ds, order[:1], 0)[0]
    f2 = np.take_along_axis(ds, order[1:2], 0)[0]
    return f1, f2, np.take_along_axis(ids, order[:1], 0)[0]


def make_pavement(rng: np.random.Generator, size: int = 384, cell: float = 50.0) -> Maps:
    """Flat stone pavement: closed irregular slabs of several tones, dark grout lines."""
    warp = 0.06 * cell * np.stack([fft_noise(rng, size=size, beta=4.0, f_lo=3),
                                   fft_noise(rng, size=size, beta=4.0, f_lo=3)])
    f1, f2, cid = cell_noise(rng, size, cell)
    gap = f2 - f1 + 0.6 * warp[0]
    slab = smoothstep(1.5, 3.0, gap)
    n = cid.max() + 1
    tones = np.stack([rgb(150, 146, 138), rgb(120, 116, 110), rgb(168, 158, 140),
                      rgb(104, 100, 98), rgb(138, 126, 110)])
    tone = tones[rng.integers(0, len(tones), n)] * rng.uniform(0.85, 1.12, (n, 1))
    grain = fft_noise(rng, size=size, beta=0.5, f_lo=size / 6)
    mottle = fft_noise(rng, size=size, beta=3.0, f_lo=size / cell)
    stone = tone[cid] * (1.0 + 0.05 * grain[..., None] + 0.06 * mottle[..., None])
    color = lerp(rgb(46, 42, 38) * (1 + 0.1 * grain[..., None]), stone, slab)
    height = 0.15 * (1 - slab) + slab * (0.7 + 0.2 * smoothstep(1.5, 12.0, gap) + 0.03 * mottle)
    rough = lerp(0.95, 0.75 + 0.04 * grain, slab)
    return color, height, rough


def make_cracked_earth(rng: np.random.Generator, size: int = 384, cell: float = 64.0) -> Maps:
    """Dried mud: curled polygonal plates split by thin dark cracks, finer cracks inside."""
    f1, f2, cid = cell_noise(rng, size, cell, jitter=0.95)
    wobble = fft_noise(rng, size=size, beta=3.0, f_lo=size / cell * 2)
    crack = 1.0 - smoothstep(0.4, 1.6 + 0.4 * wobble, f2 - f1)
    g1, g2, _ = cell_noise(rng, size, cell / 3, jitter=0.95)
    fine = (1.0 - smoothstep(0.2, 0.9, g2 - g1)) * smoothstep(0.0, 1.0, fft_noise(rng, size=size, beta=3.0, f_lo=4))
    n = cid.max() + 1
    tone = rgb(150, 118, 84) * rng.uniform(0.88, 1.1, (n, 1))
    grain = fft_noise(rng, size=size, beta=0.8, f_lo=size / 8)
    curl = smoothstep(0.0, 0.5 * cell, f2 - f1)               # plates lift at their rims
    plate = tone[cid] * (1.0 + 0.06 * grain[..., None]) * (0.85 + 0.15 * curl[..., None])
    color = lerp(plate, plate * 0.55, 0.7 * fine)
    color = lerp(color, rgb(40, 30, 22), crack)
    height = (0.5 + 0.3 * curl + 0.02 * grain - 0.15 * fine) * (1 - crack)
    rough = 0.9 - 0.05 * curl + 0.05 * crack
    return color, height, rough


def make_tiles(rng: np.random.Generator, size: int = 256, tile: int = 32) -> Maps:
    """Square ceramic floor tiles on a grid, glaze tones varying per tile, light grout."""
    n = size // tile
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    ty, tx = (yy // tile).astype(int), (xx // tile).astype(int)
    yl, xl = yy % tile, xx % tile
    edge = np.minimum(np.minimum(yl, tile - 1 - yl), np.minimum(xl, tile - 1 - xl))
    body = smoothstep(1.0, 2.2, edge)
    tid = ty * n + tx
    tones = np.stack([rgb(56, 92, 130), rgb(64, 104, 140), rgb(48, 80, 118), rgb(230, 226, 214)])
    pick = np.where(rng.random(n * n) < 0.2, 3, rng.integers(0, 3, n * n))
    tone = tones[pick] * rng.uniform(0.92, 1.06, (n * n, 1))
    glaze = fft_noise(rng, size=size, beta=2.5, f_lo=size / tile)
    speck = fft_noise(rng, size=size, beta=0.3, f_lo=size / 4)
    color = tone[tid] * (1.0 + 0.05 * glaze[..., None] + 0.02 * speck[..., None])
    color = lerp(color * 0.9, color, smoothstep(2.0, 5.0, edge))
    color = lerp(rgb(190, 184, 172) * (1 + 0.05 * speck[..., None]), color, body)
    height = 0.2 * (1 - body) + body * (0.8 + 0.1 * smoothstep(2.0, 5.0, edge))
    rough = lerp(0.9, 0.25 + 0.05 * glaze, body)
    return color, height, rough


def make_sand(rng: np.random.Generator, size: int = 256) -> Maps:
    """Fine sand: speckled grains of a few minerals over soft wind ripples."""
    grain = fft_noise(rng, size=size, beta=0.2, f_lo=size / 8)
    ripple_warp = fft_noise(rng, size=size, beta=4.0, f_lo=2)
    yy, _ = np.mgrid[0:size, 0:size].astype(np.float64)
    ripple = np.sin(2 * np.pi * (yy / (size / 16) + 0.8 * ripple_warp))
    mineral = fft_noise(rng, size=size, beta=0.0, f_lo=size / 4)
    color = lerp(rgb(196, 168, 122), rgb(166, 136, 96), smoothstep(-1.5, 1.5, grain))
    color = lerp(color, rgb(90, 80, 70), smoothstep(1.6, 2.4, mineral))          # dark grains
    color = lerp(color, rgb(236, 226, 210), smoothstep(1.8, 2.6, -mineral))      # quartz
    color = color * (1.0 + 0.05 * ripple[..., None])
    height = 0.5 + 0.2 * ripple + 0.05 * grain
    rough = 0.9 + 0.05 * grain
    return color, height, rough


def make_woodgrain(rng: np.random.Generator, size: int = 256) -> Maps:
    """One wide board of flat-sawn wood: long grain lines swaying along x, no seams."""
    distort = fft_noise(rng, size=size, beta=3.0, f_lo=1, stretch=(1.0, 5.0))
    fibre = fft_noise(rng, size=size, beta=0.8, f_lo=8, stretch=(1.0, 30.0))
    yy, _ = np.mgrid[0:size, 0:size].astype(np.float64)
    t = ((yy + 14.0 * distort) / (size / 24)) % 1.0
    late = smoothstep(0.5, 0.8, t) * (1 - smoothstep(0.88, 1.0, t))
    color = rgb(186, 134, 84) * (1.0 - 0.32 * late[..., None] + 0.04 * fibre[..., None] + 0.05 * distort[..., None])
    height = 0.6 - 0.1 * late + 0.03 * fibre
    rough = 0.6 + 0.1 * late + 0.03 * fibre
    return color, height, rough


def make_foliage(rng: np.random.Generator, size: int = 384, leaf: float = 40.0) -> Maps:
    """Fallen leaves: overlapping elliptic leaves of autumn tones with a midrib, soil between."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    soil = fft_noise(rng, size=size, beta=2.0, f_lo=8)
    color = lerp(rgb(48, 38, 28), rgb(78, 62, 44), smoothstep(-1.5, 1.5, soil))
    height = 0.1 + 0.05 * soil
    rough = np.full((size, size), 0.95)
    tones = np.stack([rgb(170, 90, 30), rgb(196, 140, 40), rgb(140, 60, 30), rgb(120, 110, 40), rgb(90, 50, 26)])
    n = int(2.2 * (size / leaf) ** 2)
    for i in range(n):
        cy, cx = rng.random(2) * size
        a = rng.uniform(0, np.pi)
        ln, wd = leaf * rng.uniform(0.7, 1.2), leaf * rng.uniform(0.3, 0.45)
        dy, dx = wrap_delta(yy, cy, size), wrap_delta(xx, cx, size)
        u = dx * np.cos(a) + dy * np.sin(a)
        v = -dx * np.sin(a) + dy * np.cos(a)
        r = (u / (ln / 2)) ** 2 + (v / (wd / 2)) ** 2
        m = smoothstep(1.0, 0.85, r)
        if not m.any():
            continue
        rib = 1.0 - smoothstep(0.4, 1.5, np.abs(v)) * (np.abs(u) < ln / 2)
        tone = tones[rng.integers(0, len(tones))] * rng.uniform(0.85, 1.15)
        leaf_col = tone * (0.8 + 0.2 * smoothstep(1.0, 0.0, r))[..., None]
        leaf_col = lerp(leaf_col, leaf_col * 1.25, 0.6 * rib)
        color = lerp(color, leaf_col, m)
        height = lerp(height, 0.3 + 0.6 * i / n + 0.05 * (1 - r), m)
        rough = lerp(rough, 0.7, m)
    return color, height, rough


# The quality suite (bench/quality.py): kinds of texture users bring, each at more than one
# structure size relative to the image. name -> (seed, maker, keyword arguments).
SUITE: dict[str, tuple[int, Callable[..., Maps], dict]] = {
    "sand": (2001, make_sand, {}),
    "cobbles": (1002, make_cobbles, {}),
    "cobbles_large": (2002, make_cobbles, {"size": 384, "n_cells": 40}),
    "pavement": (2003, make_pavement, {"size": 384, "cell": 50.0}),
    "cracked_earth": (2004, make_cracked_earth, {"size": 384, "cell": 64.0}),
    "bricks": (1001, make_bricks, {}),
    "bricks_large": (2005, make_bricks, {"size": 512}),
    "tiles": (2006, make_tiles, {"size": 256, "tile": 32}),
    "planks": (1003, make_planks, {}),
    "woodgrain": (2007, make_woodgrain, {}),
    "moss": (1004, make_moss, {}),
    "foliage": (2008, make_foliage, {"size": 384, "leaf": 40.0}),
}


MATERIALS: dict[str, tuple[int, Callable[[np.random.Generator], Maps]]] = {
    "bricks": (1001, make_bricks),
    "cobbles": (1002, make_cobbles),
    "planks": (1003, make_planks),
    "moss": (1004, make_moss),
}

# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def normalize01(a: np.ndarray) -> np.ndarray:
    """Stretch a height map to the full 0..1 range (height is relative, not metric)."""
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / max(hi - lo, 1e-12)


def write_maps(name: str, maps: Maps, out_dir: Path = OUT_DIR) -> None:
    color, height, rough = maps
    d = out_dir / name
    d.mkdir(parents=True, exist_ok=True)
    c8 = np.round(np.clip(color, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(c8, "RGB").save(d / "basecolor.png", optimize=True)
    h16 = np.round(normalize01(height) * 65535).astype(np.uint16)
    Image.fromarray(h16).convert("I;16").save(d / "height.png")
    r8 = np.round(np.clip(rough, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(r8, "L").save(d / "roughness.png", optimize=True)


def main() -> None:
    for name, (seed, fn) in MATERIALS.items():
        write_maps(name, fn(np.random.default_rng(seed)))
        print(f"wrote {OUT_DIR / name}")


if __name__ == "__main__":
    main()
