"""Latent recipes ("texgan-latent/1", "/2" and "/3"), machine-independent and stable across numpy versions
because it only uses the PCG64 bit stream and SeedSequence hashing (both frozen by numpy's
compatibility policy) plus float64 Box-Muller:

  * uniforms(seed, key..., n): PCG64(SeedSequence([seed, *key])).random_raw(n) -> uint64 u;
    U = ((u >> 11) + 0.5) / 2**53, in (0, 1).
  * normals(seed, key..., n): m = ceil(n/2) pairs from uniforms(…, 2m): U1 = U[0::2],
    U2 = U[1::2]; r = sqrt(-2 ln U1); z[0::2] = r cos(2 pi U2), z[1::2] = r sin(2 pi U2);
    first n, cast to float32.
  * local channels (count L): the canvas (h x w cells) is cut into 64 x 64-cell blocks;
    block (by, bx) is normals(seed, 0, by, bx, L*64*64) reshaped [L, 64, 64] (drawn full size
    even where it overhangs the canvas). So any window of the latent can be made on demand.
  * global channels (count G): normals(seed, 1, G), the same value in every cell.
  * periodic channels (count P): phase_p = 2 pi * uniforms(seed, 2, P)[p];
    n = round_half_even(float32(k) * float32((w, h))) for the model's wave vector k = (kx, ky)
    in cycles per cell; value at cell (y, x) = sin(2 pi (frac(n_x x / w) + frac(n_y y / h)) + phase_p).
  * channel order [local | global | periodic]. Texture i of a `count` run uses seed + i.

Recipe texgan-latent/2 adds cell channels (count Q, only with P = 2 waves [k_a, k_row] fixed to a grid,
and the model's `cell_shear` s): one value per lattice cell (a tile, a brick).
  * for wave p and cell (y, x): m = n_x x h + n_y y w (integers); q_p = floor(m / (w h)),
    r_p = (m - q_p w h) / (w h) in float64, and U_p = uniforms(seed, 2, P)[p] (the wave's phase / 2 pi);
    f = r_1 + U_1; row = q_1 + floor(f); col = q_0 + floor(r_0 + U_0 + s (f - floor(f))).
  * the canvas' own periods in (row, col) are (n_1x, n_0x) and (n_1y, n_0y); in Hermite form (A, B), (0, D)
    (A = gcd(n_1x, n_1y) = u n_1x + v n_1y by the extended Euclid algorithm with the remainders' signs,
    D = |(n_1y / A) n_0x - (n_1x / A) n_0y|, B = (u n_0x + v n_0y) mod D);
    cell index = a D + ((col - ((row - a) / A) B) mod D) with a = row mod A (floor modulo). A canvas
    too small to hold whole cells both ways (A = 0 or D = 0) is one cell: index 0 everywhere.
  * values: normals(seed, 3, Q*A*D) reshaped [Q, A*D], taken at each cell's index.
  * channel order [local | global | periodic | cell].

Recipe texgan-latent/3 is /2 with binary cell values: +1 where the normal drawn for it is >= 0, else -1.
"""
from __future__ import annotations

import math

import numpy as np

BLOCK = 64                 # local-noise block side, in latent cells
LATENT_RECIPE = "texgan-latent/1"
LATENT_RECIPE_CELLS = "texgan-latent/2"          # /1 plus channels drawn per grid cell (models with a cell part)
LATENT_RECIPE_BINARY_CELLS = "texgan-latent/3"   # /2 with each cell value +1 or -1


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 63:
        raise ValueError(f"seed must be a whole number from 0 to 2**63-1, got {seed!r}")
    return int(seed)


def _uniforms(n: int, *key: int) -> np.ndarray:
    bits = np.random.PCG64(np.random.SeedSequence([int(k) for k in key])).random_raw(n)
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2 ** 53)


def _normals(n: int, *key: int) -> np.ndarray:
    m = (n + 1) // 2
    u = _uniforms(2 * m, *key)
    r = np.sqrt(-2.0 * np.log(u[0::2]))
    theta = 2.0 * math.pi * u[1::2]
    z = np.empty(2 * m, dtype=np.float64)
    z[0::2] = r * np.cos(theta)
    z[1::2] = r * np.sin(theta)
    return z[:n].astype(np.float32)


def extended_gcd(a: int, b: int) -> tuple[int, int, int]:
    """(g, u, v) with u*a + v*b = g = gcd(a, b) >= 0."""
    old_r, r, old_u, u, old_v, v = a, b, 1, 0, 0, 1
    while r:
        q = old_r // r
        old_r, r, old_u, u, old_v, v = r, old_r - q * r, u, old_u - q * u, v, old_v - q * v
    return (old_r, old_u, old_v) if old_r >= 0 else (-old_r, -old_u, -old_v)


def cell_lattice_basis(counts, height_cells: int, width_cells: int) -> tuple[int, int, int]:
    """(A, B, D): the canvas' periods in (row, col) cell coordinates in Hermite form (A, B), (0, D).
    counts [[n_ax, n_ay], [n_rowx, n_rowy]]; moving w cells right shifts (row, col) by (n_rowx, n_ax)."""
    (ax, ay), (rx, ry) = [[int(v) for v in row] for row in counts]
    g, u, v = extended_gcd(rx, ry)
    d = abs((ry // g) * ax - (rx // g) * ay) if g else 0
    if d == 0:   # a canvas too small to hold whole cells both ways: one cell, one value
        return 0, 0, 0
    return g, (u * ax + v * ay) % d, d


def cell_index(counts, cycles, shear: float, ys: np.ndarray, xs: np.ndarray, height_cells: int,
               width_cells: int) -> tuple[np.ndarray, int]:
    """Lattice-cell index int64 [len(ys), len(xs)] of latent cells (ys, xs) and the number of cells (recipe /2)."""
    h, w = int(height_cells), int(width_cells)
    whole, part = [], []
    for (nx, ny), u in zip(counts, cycles):
        m = int(nx) * xs[None, :].astype(np.int64) * h + int(ny) * ys[:, None].astype(np.int64) * w
        q = m // (w * h)
        whole.append(q)
        part.append((m - q * (w * h)).astype(np.float64) / (w * h) + float(u))
    row = whole[1] + np.floor(part[1]).astype(np.int64)
    col = whole[0] + np.floor(part[0] + float(shear) * (part[1] - np.floor(part[1]))).astype(np.int64)
    A, B, D = cell_lattice_basis(counts, h, w)
    if D == 0:
        return np.zeros_like(row), 1
    a = row % A
    return a * D + (col - (row - a) // A * B) % D, A * D


def _snapped_counts(wave_vectors, height_cells: int, width_cells: int) -> np.ndarray:
    """Whole periods across the canvas per wave vector: int [P, 2] as (n_x, n_y)."""
    k = np.asarray(wave_vectors, dtype=np.float32).reshape(-1, 2)
    size = np.array([width_cells, height_cells], dtype=np.float32)
    return np.round(k * size).astype(np.int64)  # numpy rounds half to even, like torch.round


class LatentSampler:
    """The latent of one seed on an h x w-cell canvas; any window, on demand (wraps around)."""

    def __init__(self, metadata: dict, seed: int, height_cells: int, width_cells: int, cache_blocks: int = 32):
        lat = metadata["latent"]
        self.seed = check_seed(seed)
        self.h, self.w = int(height_cells), int(width_cells)
        if self.h < 1 or self.w < 1:
            raise ValueError(f"latent canvas must be at least 1x1 cells, got {self.h}x{self.w}")
        self.L, self.G, self.P = int(lat["local"]), int(lat["global"]), int(lat["periodic"])
        self.Q = int(lat.get("cell", 0))
        self.channels = self.L + self.G + self.P + self.Q
        self.global_vec = _normals(self.G, self.seed, 1) if self.G else np.zeros(0, np.float32)
        self.cycles = _uniforms(self.P, self.seed, 2) if self.P else np.zeros(0)
        self.phases = 2.0 * math.pi * self.cycles
        self.counts = _snapped_counts(lat["wave_vectors"], self.h, self.w) if self.P else np.zeros((0, 2), np.int64)
        self.shear = float(lat.get("cell_shear", 0.0))
        if self.Q:
            cells = cell_lattice_basis(self.counts, self.h, self.w)
            self.cell_values = _normals(self.Q * max(1, cells[0] * cells[2]), self.seed, 3).reshape(self.Q, -1)
            if lat.get("sampling") == LATENT_RECIPE_BINARY_CELLS:
                self.cell_values = np.where(self.cell_values >= 0, 1.0, -1.0).astype(np.float32)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._cache_blocks = cache_blocks

    def _block(self, by: int, bx: int) -> np.ndarray:
        key = (by, bx)
        blk = self._cache.get(key)
        if blk is None:
            blk = _normals(self.L * BLOCK * BLOCK, self.seed, 0, by, bx).reshape(self.L, BLOCK, BLOCK)
            if len(self._cache) >= self._cache_blocks:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = blk
        return blk

    def window(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        """Latent [1, C, row1-row0, col1-col0]; rows/cols may run past the canvas and wrap."""
        ys = np.arange(row0, row1, dtype=np.int64) % self.h
        xs = np.arange(col0, col1, dtype=np.int64) % self.w
        z = np.empty((1, self.channels, ys.size, xs.size), dtype=np.float32)
        if self.L:
            by_all, bx_all = ys // BLOCK, xs // BLOCK
            for by in np.unique(by_all):
                ri = np.nonzero(by_all == by)[0]
                for bx in np.unique(bx_all):
                    ci = np.nonzero(bx_all == bx)[0]
                    blk = self._block(int(by), int(bx))
                    local = z[0, :self.L]  # a view: [L, rows, cols]
                    local[:, ri[:, None], ci[None, :]] = blk[:, ys[ri] % BLOCK][:, :, xs[ci] % BLOCK]
        if self.G:
            z[0, self.L:self.L + self.G] = self.global_vec[:, None, None]
        for p in range(self.P):
            nx, ny = self.counts[p]
            ax = ((nx * xs) % self.w) / self.w
            ay = ((ny * ys) % self.h) / self.h
            z[0, self.L + self.G + p] = np.sin(2.0 * math.pi * (ay[:, None] + ax[None, :]) + self.phases[p])
        if self.Q:
            index, _ = cell_index(self.counts, self.cycles, self.shear, ys, xs, self.h, self.w)
            z[0, self.L + self.G + self.P:] = self.cell_values[:, index]
        return z


def sample_latent(metadata: dict, seed: int, height_cells: int, width_cells: int) -> np.ndarray:
    """The whole latent [1, C, height_cells, width_cells] float32 of one seed (recipe texgan-latent/1, /2 or /3)."""
    return LatentSampler(metadata, seed, height_cells, width_cells).window(0, height_cells, 0, width_cells)
