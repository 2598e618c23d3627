"""gan_core.metrics on real images: the embedded exemplars and synthetic textures.

Kept small (few crops, few descriptors) so each test runs in seconds on 2 CPU cores.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core import metrics as M

EXEMPLARS = Path(__file__).resolve().parents[1] / "gan_core" / "exemplars"
FAST = dict(per_image=32, n_projections=128)  # cheaper SWD settings for tests


def load_basecolor(name: str) -> torch.Tensor:
    a = np.asarray(Image.open(EXEMPLARS / name / "basecolor.png").convert("RGB"), dtype=np.float32)
    return torch.from_numpy(a / 255.0).permute(2, 0, 1).contiguous()


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are small: on a busy 2-core box, intra-op threads only add sync waits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bricks() -> torch.Tensor:
    return load_basecolor("bricks")


def periodic_noise(c: int, size: int, seed: int) -> torch.Tensor:
    """Smooth noise on a torus (FFT-filtered white noise), scaled into [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(c, size, size, generator=g)
    f = torch.fft.fftfreq(size) * size
    r = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    amp = torch.where(r > 0, r.clamp_min(1e-6) ** -1.5, torch.zeros(()))
    x = torch.fft.ifft2(torch.fft.fft2(white) * amp).real
    return (x - x.min()) / (x.max() - x.min())


# ---------------------------------------------------------------- pyramid and descriptors

def test_laplacian_pyramid_shapes_and_exact_reconstruction(bricks):
    x = bricks[None]
    bands = M.laplacian_pyramid(x, 4)
    assert [b.shape[-1] for b in bands] == [256, 128, 64, 32]
    rec = bands[-1]
    for band in reversed(bands[:-1]):
        rec = band + M._upsample(rec)
    assert torch.allclose(rec, x, atol=1e-5)
    # Detail bands of a textured image carry energy; the coarse band keeps the mean colour.
    assert bands[0].abs().mean() > 0.01
    assert torch.allclose(bands[-1].mean(dim=(-2, -1)), x.mean(dim=(-2, -1)), atol=1e-4)


def test_blur_wraps_around_instead_of_padding_with_zeros():
    x = torch.zeros(1, 1, 8, 8)
    x[..., 0, 0] = 1.0
    y = M.gaussian_blur(x)
    assert math.isclose(float(y.sum()), 1.0, rel_tol=1e-6)       # nothing lost at the edge
    assert float(y[..., -1, -1]) > 0                               # mass wrapped to the far corner


def test_pyramid_rejects_sizes_that_do_not_halve():
    with pytest.raises(ValueError, match="divisible"):
        M.laplacian_pyramid(torch.rand(1, 3, 48, 48), 6)
    assert M.default_levels(64, 64) == 3          # 64, 32, 16
    assert M.default_levels(48, 48) == 2          # 48, 24 (12 would be below 16)


def test_descriptors_are_the_image_neighbourhoods():
    x = torch.arange(2 * 3 * 20 * 20, dtype=torch.float32).view(2, 3, 20, 20)
    d = M.extract_descriptors(x, patch=7, per_image=5, generator=torch.Generator().manual_seed(1))
    assert d.shape == (10, 3 * 49)
    # Each descriptor is a real 7x7 window: find it by its top-left value and compare.
    for row in d:
        patch = row.view(3, 7, 7)
        n, c, y, xx = np.unravel_index(int(patch[0, 0, 0]), x.shape)
        assert torch.equal(patch, x[n, :, y:y + 7, xx:xx + 7])


# ---------------------------------------------------------------- SWD

def test_swd_is_zero_for_identical_sets_and_positive_for_shifted():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 20, generator=g)
    assert M.sliced_wasserstein_distance(a, a.clone(), generator=g) == 0.0
    assert M.sliced_wasserstein_distance(a, a + 0.5, generator=g) > 0.1
    # Unequal sizes are subsampled, not rejected.
    assert M.sliced_wasserstein_distance(a, a[:300], generator=g) < 0.2


def test_multiscale_swd_identical_sets_score_zero(bricks):
    crops = M.random_crops(bricks, 16, 64, torch.Generator().manual_seed(0))
    out = M.multiscale_swd(crops, crops.clone(), seed=3, **FAST)
    assert len(out["per_level"]) == 3
    assert out["mean"] == 0.0


def test_swd_real_vs_real_below_real_vs_noise_and_blur(bricks):
    g = torch.Generator().manual_seed(0)
    left, right = bricks[:, :, :128], bricks[:, :, 128:]
    ref = M.random_crops(left, 64, 64, g)
    held = M.random_crops(right, 64, 64, g)
    noise = torch.rand(64, 3, 64, 64, generator=g)
    blurred = M.gaussian_blur(M.gaussian_blur(M.random_crops(right, 64, 64, g)))
    floor = M.multiscale_swd(held, ref, **FAST)["mean"]
    vs_noise = M.multiscale_swd(noise, ref, **FAST)["mean"]
    vs_blur = M.multiscale_swd(blurred, ref, **FAST)["mean"]
    assert floor < 0.5 * vs_blur
    assert floor < 0.2 * vs_noise


def test_swd_sees_a_colour_shift(bricks):
    """Normalising with the union's stats (not each set's own) keeps global shifts visible."""
    g = torch.Generator().manual_seed(0)
    ref = M.random_crops(bricks[:, :, :128], 64, 64, g)
    held = M.random_crops(bricks[:, :, 128:], 64, 64, g)
    tinted = (held + torch.tensor([0.0, 0.15, 0.15]).view(1, 3, 1, 1)).clamp(0, 1)
    floor = M.multiscale_swd(held, ref, **FAST)["mean"]
    assert M.multiscale_swd(tinted, ref, **FAST)["mean"] > 2 * floor


# ---------------------------------------------------------------- seams and diversity

def test_seam_ratio_is_one_for_tileable_images():
    assert 0.9 < M.seam_ratio(periodic_noise(3, 128, seed=1)) < 1.1
    assert 0.9 < M.seam_ratio(load_basecolor("moss")) < 1.1   # made tileable on a torus


def test_seam_ratio_flags_seams():
    ramp = torch.linspace(0, 1, 128).view(1, 1, 128).expand(3, 128, 128)
    assert M.seam_ratio(ramp) > 20                        # gradient: wrap jump vs tiny steps
    tileable = periodic_noise(3, 128, seed=2)
    step = tileable.clone()
    step[:, :, 40:80] += 0.3                              # hard steps up and down inside...
    assert M.seam_ratio(step) < 1.1                       # ...is no wrap seam
    stepped_edge = (tileable + torch.linspace(0, 0.3, 128)).clamp(0, 1)
    assert M.seam_ratio(stepped_edge) > 3                 # a ramp makes the wrap pair jump
    assert M.seam_ratio(torch.full((1, 8, 8), 0.5)) == 1.0  # flat: no seam, no detail


def test_seam_ratio_of_a_cut_photo_is_above_one():
    cut = load_basecolor("moss")[:, 10:150, 20:180]       # not a whole period any more
    assert M.seam_ratio(cut) > 1.1


def test_diversity():
    x = periodic_noise(3, 32, seed=0)
    same = torch.stack([x, x, x])
    assert M.diversity(same) == 0.0
    other = torch.stack([x, x, 1 - x])
    d = M.diversity(other)
    expected = 2 * float((x - (1 - x)).abs().mean()) / 3     # 2 of 3 pairs differ
    assert math.isclose(d, expected, rel_tol=1e-5)
    with pytest.raises(ValueError):
        M.diversity(x[None])


def test_random_crops_fit_and_wrap():
    img = torch.arange(16.0).view(1, 4, 4)
    g = torch.Generator().manual_seed(0)
    crops = M.random_crops(img, 50, 3, g, wrap=False)
    assert crops.shape == (50, 1, 3, 3)
    assert crops.max() <= 15
    wrapped = M.random_crops(img, 200, 3, g, wrap=True)
    tiled = img.repeat(1, 2, 2)
    for c in wrapped:                                     # every torus crop is in the 2x2 tiling
        y, x = divmod(int(c[0, 0, 0]), 4)
        assert torch.equal(c, tiled[:, y:y + 3, x:x + 3])
    assert any(int(c[0, 0, 0]) % 4 >= 2 for c in wrapped)  # some do cross the edge
    with pytest.raises(ValueError):
        M.random_crops(img, 1, 5, g)


# ---------------------------------------------------------------- evaluate

def test_evaluate_rejects_exemplar_smaller_than_crop(bricks):
    with pytest.raises(ValueError, match="smaller than the 64 px crop"):
        M.evaluate(torch.rand(2, 3, 64, 64), bricks[:, :40, :40], crop=64)


def test_evaluate_report_is_deterministic_and_orders_real_below_noise(bricks):
    fakes_real = torch.stack([torch.roll(bricks, (37 * i, 91 * i), (1, 2)) for i in range(4)])
    noise = torch.rand(4, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    kw = dict(crop=64, n_crops=32, per_image=32, seed=5)
    rep = M.evaluate(fakes_real, bricks, **kw)
    again = M.evaluate(fakes_real, bricks, **kw)
    assert rep == again
    json.dumps(rep)                                       # JSON-ready
    assert set(rep) >= {"swd", "swd_floor", "swd_ratio", "seam_ratio", "diversity",
                        "diversity_real", "crop", "n_crops", "notes"}
    assert "left half" in rep["notes"][0]
    noisy = M.evaluate(noise, bricks, **kw)
    assert noisy["swd_floor"] == rep["swd_floor"]         # the floor depends on the exemplar only
    assert rep["swd"] < rep["swd_floor"] * 2 < noisy["swd"]
    assert noisy["swd_ratio"] > 4
    assert rep["diversity"] > 0 and rep["diversity_real"] > 0
    assert M.evaluate(fakes_real, bricks, **{**kw, "seed": 6})["swd"] != rep["swd"]


def test_evaluate_reuses_the_floor_only_for_the_same_exemplar(bricks):
    """The real-vs-real floor is cached per process: a cached report equals a fresh one, and an
    exemplar that differs in one block gets its own floor, not the cached one."""
    fakes = torch.stack([torch.roll(bricks, (29 * i, 53 * i), (1, 2)) for i in range(3)])
    kw = dict(crop=64, n_crops=16, per_image=16, seed=2)
    M._FLOORS.clear()
    fresh = M.evaluate(fakes, bricks, **kw)
    assert len(M._FLOORS) == 1
    assert M.evaluate(fakes, bricks, **kw) == fresh
    changed = bricks.clone()
    changed[:, 100:140, 20:60] = 1.0                     # a white block in the reference half
    other = M.evaluate(fakes, changed, **kw)
    assert other["swd_floor"] != fresh["swd_floor"]
    M._FLOORS.clear()
    assert M.evaluate(fakes, changed, **kw) == other     # and that floor is the one a fresh process draws


def test_evaluate_small_exemplar_falls_back_and_says_so(bricks):
    small = bricks[:, :80, :80]                           # halves (40 px) cannot hold 64 px crops
    rep = M.evaluate(torch.rand(2, 3, 64, 64), small, crop=64, n_crops=16, per_image=16)
    assert "too small for disjoint halves" in rep["notes"][0]
    assert rep["swd_floor"] > 0


def test_colour_ratio_flags_wrong_hues_that_the_band_pass_levels_barely_see():
    """A texture with its colour channels rotated keeps every edge and grain, so the Laplacian levels
    change little; the pixel-colour distance sees the wrong hues (a green-magenta failure)."""
    moss = load_basecolor("moss")
    fakes = torch.stack([moss.roll((40 * i, 70 * i), (1, 2)) for i in range(4)])
    fair = M.evaluate(fakes, moss, crop=64, n_crops=32, per_image=32)
    wrong = M.evaluate(fakes[:, [2, 0, 1]], moss, crop=64, n_crops=32, per_image=32)
    assert fair["color_ratio"] < 2.0
    assert wrong["color_ratio"] > 4 * fair["color_ratio"]
    assert wrong["color_distance"] > wrong["color_floor"] > 0
