"""Resampling and tiled painting (numpy only).

Sizes that are not a multiple of the model scale: the model paints the next multiple up
(ceil(size / scale) cells), and that seamless image is resampled to the exact size with a
wrap-around Catmull-Rom (Keys a = -0.5) filter, i.e. the whole torus is mapped onto the
smaller torus. The result tiles exactly at any pixel size; the cost is a very slight
softening (< 1 scale step of shrink). Multiples of the scale are not resampled.

Tiled inference: the output is cut into tiles; each tile runs the model on the latent
window it needs plus a wrap-around halo of `receptive_radius_cells` cells and keeps the
centre, which is then exactly what one run over the whole canvas gives (up to float
rounding). Memory: the result array plus one tile's working set.
"""
from __future__ import annotations

import numpy as np


def _keys_cubic(t: np.ndarray) -> np.ndarray:
    """Weights [N, 4] of taps at offsets -1, 0, 1, 2 for fractional positions t in [0, 1)."""
    a = -0.5
    d = np.stack([1 + t, t, 1 - t, 2 - t], axis=1)
    w = np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                 np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0.0))
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def _resample_table(n_out: int, n_src: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Unwrapped source taps [n_out, 4] and weights, or None when n_out == n_src (identity)."""
    if n_out == n_src:
        return None
    u = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_src / n_out) - 0.5
    base = np.floor(u)
    taps = base[:, None].astype(np.int64) + np.arange(-1, 3, dtype=np.int64)[None, :]
    return taps, _keys_cubic(u - base)


def _apply_table(src: np.ndarray, table, start: int, axis: int) -> np.ndarray:
    """Resample src [..] along axis (1 = rows, 2 = cols of [C, H, W]); taps relative to start."""
    taps, weights = table
    idx = taps - start
    if axis == 1:
        return np.einsum("chkw,hk->chw", src[:, idx, :], weights, optimize=True)
    return np.einsum("chwk,wk->chw", src[:, :, idx], weights, optimize=True)


def _tile_starts(n: int, t: int, align: int) -> list[int]:
    """Tile starts covering [0, n) with tiles of size t (all the same size; the last is shifted back)."""
    if n <= t:
        return [0]
    starts = list(range(0, n - t, t))
    last = ((n - t) // align) * align
    starts.append(last)
    return starts


def paint_canvas(run, metadata: dict, out: np.ndarray, seed: int, tile_px: int, radius: int, progress=None,
                 cancel=None) -> None:
    """Fill out [count, H, W, C] (any dtype of quantize) with textures seed, seed+1, ... painted by
    run(latent) -> [B, C, h*s, w*s]: one run over the canvas when it fits in a tile (several textures
    per run), else tile by tile with a halo of `radius` cells (the model's receptive radius).

    progress(fraction) is called after each run; cancel() is polled before each and raises Cancelled.
    """
    from .format import Cancelled
    from .latent import LatentSampler, sample_latent
    from .maps import quantize
    count, H, W, _ = out.shape
    s, r = int(metadata["scale"]), int(radius)
    lh, lw = -(-H // s), -(-W // s)
    Hs, Ws = lh * s, lw * s
    ty, tx = _resample_table(H, Hs), _resample_table(W, Ws)

    def check_cancel():
        if cancel is not None and cancel():
            raise Cancelled("generation cancelled")

    if H <= tile_px and W <= tile_px:  # one run over the whole canvas (circular padding wraps)
        per_run = max(1, min(count, 16, (tile_px * tile_px) // (Hs * Ws)))
        for i0 in range(0, count, per_run):
            check_cancel()
            n = min(per_run, count - i0)
            y = run(np.concatenate([sample_latent(metadata, seed + i, lh, lw) for i in range(i0, i0 + n)]))
            for j in range(n):
                img = y[j]
                if ty is not None:
                    img = _apply_table(img, (ty[0] % Hs, ty[1]), 0, axis=1)
                if tx is not None:
                    img = _apply_table(img, (tx[0] % Ws, tx[1]), 0, axis=2)
                out[i0 + j] = quantize(img, out.dtype).transpose(1, 2, 0)
            if progress is not None:
                progress((i0 + n) / count)
        return

    rows = _tile_starts(H, tile_px, s if ty is None else 1)
    cols = _tile_starts(W, tile_px, s if tx is None else 1)
    total, done = count * len(rows) * len(cols), 0
    for i in range(count):
        sampler = LatentSampler(metadata, seed + i, lh, lw)
        for oy in rows:
            oy1 = min(H, oy + tile_px)
            sy0, sy1 = (oy, oy1) if ty is None else (int(ty[0][oy:oy1].min()), int(ty[0][oy:oy1].max()) + 1)
            for ox in cols:
                check_cancel()
                ox1 = min(W, ox + tile_px)
                sx0, sx1 = (ox, ox1) if tx is None else (int(tx[0][ox:ox1].min()), int(tx[0][ox:ox1].max()) + 1)
                cy0, cy1 = sy0 // s - r, -(-sy1 // s) + r
                cx0, cx1 = sx0 // s - r, -(-sx1 // s) + r
                y = run(sampler.window(cy0, cy1, cx0, cx1))[0]
                py0, px0 = cy0 * s, cx0 * s  # source pixel (unwrapped) at y[:, 0, 0]
                if ty is None:
                    y = y[:, sy0 - py0:sy1 - py0]
                else:
                    y = _apply_table(y, (ty[0][oy:oy1], ty[1][oy:oy1]), py0, axis=1)
                if tx is None:
                    y = y[:, :, sx0 - px0:sx1 - px0]
                else:
                    y = _apply_table(y, (tx[0][ox:ox1], tx[1][ox:ox1]), px0, axis=2)
                out[i, oy:oy1, ox:ox1] = quantize(y, out.dtype).transpose(1, 2, 0)
                done += 1
                if progress is not None:
                    progress(done / total)


def working_bytes(metadata: dict, H: int, W: int, count: int, tile_px: int, itemsize: int) -> int:
    """Estimated peak bytes of painting: the result plus one run's latent and output (float32, twice
    for the resampled copy). Used to refuse what cannot fit before anything is allocated."""
    s, r, C = int(metadata["scale"]), int(metadata["receptive_radius_cells"]), len(metadata["channels"])
    side_h, side_w = (min(H, tile_px), min(W, tile_px)) if max(H, W) > tile_px else (H, W)
    cells = (-(-side_h // s) + 2 * r) * (-(-side_w // s) + 2 * r)
    per_run = 1 if max(H, W) > tile_px else max(1, min(count, 16, (tile_px * tile_px) // max(1, H * W)))
    run = per_run * cells * (int(metadata["latent"]["channels"]) + 2 * C * s * s) * 4
    return count * H * W * C * itemsize + run
