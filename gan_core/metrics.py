"""Texture quality measures: multi-scale SWD, seams, diversity (torch only).

Why these three (see DESIGN.md, "Quality and speed are measured, not asserted"):

* Multi-scale sliced Wasserstein distance (Karras et al. 2018, "Progressive Growing of GANs",
  Appendix D) compares the *distributions* of 7x7 neighbourhoods of a Laplacian pyramid, so it
  scores texture statistics at every scale without needing a pretrained network. A number on
  its own means little, so ``evaluate`` also reports its *floor*: the same distance between two
  disjoint sets of real exemplar crops. A generator cannot be expected to beat that.
* Seam ratio: wrap-around edge difference over interior neighbour difference (1.0 = seamless).
* Diversity: mean L1 distance between samples of different seeds (0 = mode collapse).

Images are float tensors [N, C, H, W] (or [C, H, W] for one image) in [0, 1], any C >= 1.
Everything random takes a ``torch.Generator`` or a seed, so results are reproducible and the
global RNG is never touched.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from typing import NamedTuple

import torch

__all__ = [
    "gaussian_blur",
    "laplacian_pyramid",
    "default_levels",
    "sliced_wasserstein_distance",
    "extract_descriptors",
    "normalize_descriptors",
    "multiscale_swd",
    "color_distance",
    "seam_ratio",
    "diversity",
    "random_crops",
    "auto_crop",
    "evaluate",
]

# 5-tap binomial filter, the Gaussian approximation ProGAN's pyramid uses.
_BINOMIAL5 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
MIN_LEVEL_SIZE = 16  # ProGAN stops its pyramid at 16x16


# --------------------------------------------------------------------------------------
# Laplacian pyramid
# --------------------------------------------------------------------------------------


def _blur_axis(x: torch.Tensor, dim: int, gain: float) -> torch.Tensor:
    """5-tap binomial along one spatial dim, wrap-around: a weighted sum of rolled copies.

    Plain shifted sums are several times faster than a depthwise conv2d on CPU here.
    """
    taps = (_BINOMIAL5 * gain).tolist()
    out = x * taps[2]
    for offset, weight in ((-2, taps[0]), (-1, taps[1]), (1, taps[3]), (2, taps[4])):
        out = out + weight * torch.roll(x, shifts=offset, dims=dim)
    return out


def gaussian_blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Separable 5-tap binomial blur of [N, C, H, W] with wrap-around ('circular') padding.

    Circular because textures here live on a torus: zero or reflect padding would invent
    edge structure that the pyramid would then report as detail. ``gain`` scales the taps
    per axis (2.0 after zero-insertion upsampling).
    """
    return _blur_axis(_blur_axis(x, -1, gain), -2, gain)


def _downsample(x: torch.Tensor) -> torch.Tensor:
    """Blur then keep every second pixel (one pyramid step down)."""
    return gaussian_blur(x)[..., ::2, ::2]


def _upsample(x: torch.Tensor) -> torch.Tensor:
    """Zero-insert to 2x size and blur with gain 2 per axis (energy-preserving interpolation)."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[..., ::2, ::2] = x
    return gaussian_blur(up, gain=2.0)


def default_levels(height: int, width: int, min_size: int = MIN_LEVEL_SIZE) -> int:
    """As many levels as keep the coarsest >= min_size px and every halving exact."""
    levels, h, w = 1, height, width
    while h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= min_size:
        h, w, levels = h // 2, w // 2, levels + 1
    return levels


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of [N, C, H, W], finest band first, the low-pass residual last.

    Each band holds the detail of one octave, so comparing bands compares the texture
    scale by scale. H and W must be divisible by 2**(levels - 1) so up/down steps align.
    """
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    h, w = x.shape[-2:]
    step = 2 ** (levels - 1)
    if h % step or w % step:
        raise ValueError(f"image {h}x{w} is not divisible by 2**(levels-1) = {step}; "
                         f"use fewer levels (default_levels gives {default_levels(h, w)})")
    bands, current = [], x
    for _ in range(levels - 1):
        down = _downsample(current)
        bands.append(current - _upsample(down))
        current = down
    bands.append(current)
    return bands


# --------------------------------------------------------------------------------------
# Sliced Wasserstein distance on neighbourhood descriptors
# --------------------------------------------------------------------------------------


def extract_descriptors(level_images: torch.Tensor, patch: int = 7, per_image: int = 128,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """``per_image`` random patch x patch neighbourhoods per image -> [N*per_image, C*patch*patch].

    Positions are uniform over the valid (non-wrapping) range, as in ProGAN; they are drawn
    with replacement, so small coarse levels simply repeat neighbourhoods.
    """
    n, c, h, w = level_images.shape
    if h < patch or w < patch:
        raise ValueError(f"level of {h}x{w} px is smaller than the {patch}x{patch} patch")
    ys = torch.randint(0, h - patch + 1, (n, per_image), generator=generator)
    xs = torch.randint(0, w - patch + 1, (n, per_image), generator=generator)
    offs = torch.arange(patch)
    rows = (ys[..., None] + offs).view(n, per_image, patch, 1)      # [n, p, patch, 1]
    cols = (xs[..., None] + offs).view(n, per_image, 1, patch)      # [n, p, 1, patch]
    flat_idx = (rows * w + cols).view(n, 1, per_image * patch * patch).expand(n, c, -1)
    vals = level_images.reshape(n, c, h * w).gather(2, flat_idx)     # [n, c, p*patch*patch]
    vals = vals.view(n, c, per_image, patch * patch).permute(0, 2, 1, 3)
    return vals.reshape(n * per_image, c * patch * patch)


def normalize_descriptors(a: torch.Tensor, b: torch.Tensor, channels: int
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardise each channel of two descriptor sets with the stats of their union.

    ProGAN standardises per channel so every pyramid level and colour channel weighs alike.
    Its code standardises each set with its *own* stats, which hides a global shift in
    colour or contrast; using the union keeps such a shift visible in the distance.
    """
    both = torch.cat([a, b]).view(a.shape[0] + b.shape[0], channels, -1)
    mean = both.mean(dim=(0, 2), keepdim=True)
    std = both.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)

    def norm(d: torch.Tensor) -> torch.Tensor:
        return ((d.view(d.shape[0], channels, -1) - mean) / std).view(d.shape[0], -1)

    return norm(a), norm(b)


def sliced_wasserstein_distance(a: torch.Tensor, b: torch.Tensor, n_projections: int = 512,
                                repeats: int = 4, generator: torch.Generator | None = None
                                ) -> float:
    """Sliced Wasserstein-1 distance between descriptor sets a [Na, D] and b [Nb, D].

    ``n_projections`` random unit directions in all, split over ``repeats`` batches
    (ProGAN: 4 x 128). Per batch: project both sets, sort each projection, mean |difference|
    of the sorted values (the 1-D W1 distance); the result averages the batches (Karras et
    al. 2018). Sorting needs equal counts, so the larger set is subsampled to the smaller
    one with ``generator``.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need descriptor sets [Na, D] and [Nb, D], got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    n = min(a.shape[0], b.shape[0])
    if a.shape[0] > n:
        a = a[torch.randperm(a.shape[0], generator=generator)[:n]]
    if b.shape[0] > n:
        b = b[torch.randperm(b.shape[0], generator=generator)[:n]]
    per_repeat = max(1, n_projections // repeats)
    results = []
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], per_repeat, generator=generator).to(a.dtype)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        # Sort along the last dim of a contiguous [P, N] tensor: faster than sorting dim 0.
        pa = torch.sort((a @ dirs).T.contiguous(), dim=1).values
        pb = torch.sort((b @ dirs).T.contiguous(), dim=1).values
        results.append((pa - pb).abs().mean())
    return float(torch.stack(results).mean())


def color_distance(a: torch.Tensor, b: torch.Tensor, seed: int = 0, pixels: int = 16384) -> float:
    """Sliced W1 (x1e3) between the pixel colours of image sets a and b [N, C, H, W]."""
    g = torch.Generator().manual_seed(seed + 77)
    pa, pb = (x.float().permute(0, 2, 3, 1).reshape(-1, x.shape[1]) for x in (a, b))
    pa, pb = (p[torch.randperm(p.shape[0], generator=g)[:pixels]] for p in (pa, pb))
    return 1e3 * sliced_wasserstein_distance(pa, pb, n_projections=64, repeats=1, generator=g)


def multiscale_swd(fake: torch.Tensor, real: torch.Tensor, levels: int | None = None,
                   seed: int = 0, per_image: int = 128, n_projections: int = 512,
                   repeats: int = 4) -> dict:
    """ProGAN's multi-scale SWD between two image sets of equal spatial size.

    Laplacian pyramid of each set, random 7x7 descriptors per level, per-channel
    normalisation over the union of both sets, SWD per level. Values are x1e3 as ProGAN
    reports them. Returns {"per_level": [finest ... coarsest], "mean": float}.

    Deterministic given ``seed``. Both sets draw their neighbourhoods at the same random
    positions (ProGAN draws them independently): for stationary textures that changes no
    expectation but removes position noise, and identical sets score exactly 0.
    """
    if fake.ndim != 4 or real.ndim != 4:
        raise ValueError("multiscale_swd expects [N, C, H, W] tensors")
    if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"image sets differ in [C, H, W]: {tuple(fake.shape[1:])} vs "
                         f"{tuple(real.shape[1:])}")
    c, h, w = fake.shape[1:]
    levels = default_levels(h, w) if levels is None else levels
    pyr_f = laplacian_pyramid(fake.float(), levels)
    pyr_r = laplacian_pyramid(real.float(), levels)
    per_level = []
    for lvl, (lf, lr) in enumerate(zip(pyr_f, pyr_r)):
        level_seed = seed * 1000 + lvl
        df = extract_descriptors(lf, per_image=per_image,
                                 generator=torch.Generator().manual_seed(level_seed))
        dr = extract_descriptors(lr, per_image=per_image,
                                 generator=torch.Generator().manual_seed(level_seed))
        df, dr = normalize_descriptors(df, dr, c)
        g = torch.Generator().manual_seed(level_seed + 1)
        per_level.append(1e3 * sliced_wasserstein_distance(
            df, dr, n_projections=n_projections, repeats=repeats, generator=g))
    return {"per_level": per_level, "mean": sum(per_level) / len(per_level)}


# --------------------------------------------------------------------------------------
# Seams and diversity
# --------------------------------------------------------------------------------------


def seam_ratio(img: torch.Tensor) -> float:
    """Wrap-around edge difference over interior neighbour difference for one [C, H, W].

    Numerator: mean |last col - first col| and |last row - first row| together. Denominator:
    mean |difference| over every other adjacent column and row pair. A tileable image gives
    ~1.0 (the wrap pair is just another neighbour pair); a hard seam gives >> 1.
    """
    if img.ndim != 3:
        raise ValueError(f"seam_ratio expects one image [C, H, W], got {tuple(img.shape)}")
    img = img.float()
    interior = torch.cat([(img[:, :, 1:] - img[:, :, :-1]).abs().flatten(),
                          (img[:, 1:, :] - img[:, :-1, :]).abs().flatten()])
    wrap = torch.cat([(img[:, :, 0] - img[:, :, -1]).abs().flatten(),
                      (img[:, 0, :] - img[:, -1, :]).abs().flatten()])
    num, den = float(wrap.mean()), float(interior.mean())
    if den == 0.0:
        return 1.0 if num == 0.0 else math.inf
    return num / den


def diversity(samples: torch.Tensor) -> float:
    """Mean per-pixel L1 distance over all pairs of different samples [N, C, H, W], N >= 2."""
    if samples.ndim != 4 or samples.shape[0] < 2:
        raise ValueError(f"diversity needs [N, C, H, W] with N >= 2, got {tuple(samples.shape)}")
    s = samples.float()
    pairs = [float((s[i] - s[j]).abs().mean())
             for i, j in itertools.combinations(range(s.shape[0]), 2)]
    return sum(pairs) / len(pairs)


# --------------------------------------------------------------------------------------
# Crops and the evaluation report
# --------------------------------------------------------------------------------------


def random_crops(img: torch.Tensor, n: int, size: int, generator: torch.Generator | None = None,
                 wrap: bool = False) -> torch.Tensor:
    """n random size x size crops of one [C, H, W] -> [n, C, size, size].

    wrap=True treats the image as a torus (crops may cross the edge), which is only
    honest for tileable images; wrap=False keeps crops inside the image.
    """
    c, h, w = img.shape
    if size > h or size > w:
        raise ValueError(f"crop {size} does not fit an image of {h}x{w}")
    hi_y, hi_x = (h, w) if wrap else (h - size + 1, w - size + 1)
    ys = torch.randint(0, hi_y, (n,), generator=generator)
    xs = torch.randint(0, hi_x, (n,), generator=generator)
    offs = torch.arange(size)
    crops = []
    for y, x in zip(ys.tolist(), xs.tolist()):
        rows, cols = (y + offs) % h, (x + offs) % w
        crops.append(img[:, rows][:, :, cols])
    return torch.stack(crops)


def _crops_from_set(images: torch.Tensor, n: int, size: int, generator: torch.Generator
                    ) -> torch.Tensor:
    """n crops spread evenly over the images of a set (crop i comes from image i mod N)."""
    per = [random_crops(images[i % images.shape[0]], 1, size, generator) for i in range(n)]
    return torch.cat(per)


def _reference_and_heldout(exemplar: torch.Tensor, n: int, size: int,
                           generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Reference crops and held-out real crops from disjoint parts of the exemplar.

    The reference set comes from the left half (or top half), the held-out set from the
    other half. Fakes and held-out crops are both compared with the *same* reference set,
    so swd and swd_floor differ only in what is compared: generated vs unseen real texture.
    If neither halving fits the crop, both sets come from the whole exemplar independently;
    they may overlap, so that floor is optimistic, and the returned note says so.
    """
    _, h, w = exemplar.shape
    if w // 2 >= size:
        ref, held = exemplar[:, :, : w // 2], exemplar[:, :, w // 2:]
        how = ("swd and swd_floor both compare against crops of the exemplar's left half; "
               "swd_floor uses crops of the right half (disjoint)")
    elif h // 2 >= size:
        ref, held = exemplar[:, : h // 2], exemplar[:, h // 2:]
        how = ("swd and swd_floor both compare against crops of the exemplar's top half; "
               "swd_floor uses crops of the bottom half (disjoint)")
    else:
        ref = held = exemplar
        how = ("exemplar too small for disjoint halves at this crop size: swd_floor compares "
               "two independent random crop sets of the whole exemplar that may overlap, "
               "so it is optimistic")
    return random_crops(ref, n, size, generator), random_crops(held, n, size, generator), how


def auto_crop(height: int, width: int, largest: int = 128) -> int:
    """The largest power-of-two crop <= `largest` for which the exemplar holds disjoint halves."""
    crop = largest
    while crop > 16 and max(width // 2, height // 2) < crop or min(height, width) < crop:
        crop //= 2
    return crop


class _Floor(NamedTuple):
    """What evaluate() measures on the exemplar alone: reference crops, the real-vs-real SWD and colour floor."""
    ref_crops: torch.Tensor
    how: str
    swd: dict
    color: float
    rng_after: torch.Tensor


_FLOORS: dict[tuple, _Floor] = {}
_FLOORS_KEPT = 2   # a run scores one exemplar again and again; reference crops are ~50 MB at 256 x 128 px


def _real_floor(real: torch.Tensor, n_crops: int, crop: int, seed: int, per_image: int,
                g: torch.Generator) -> _Floor:
    """The floor for this exemplar, crop and seed, computed once per process and reused.

    Scoring one run after each segment re-measured the same real-vs-real distance every time,
    about half of evaluate()'s cost. The key holds the exemplar's bytes and the generator's state,
    so a cached floor is exactly the one that would be drawn; `g` leaves in the state it would have.
    """
    state = g.get_state()
    key = (hashlib.sha1(real.detach().cpu().contiguous().numpy().tobytes()).hexdigest(), tuple(real.shape),
           n_crops, crop, seed, per_image, hashlib.sha1(state.numpy().tobytes()).hexdigest())
    if key not in _FLOORS:
        ref_crops, held_crops, how = _reference_and_heldout(real, n_crops, crop, g)
        swd = multiscale_swd(held_crops, ref_crops, seed=seed, per_image=per_image)
        while len(_FLOORS) >= _FLOORS_KEPT:
            _FLOORS.pop(next(iter(_FLOORS)))
        _FLOORS[key] = _Floor(ref_crops, how, swd, color_distance(held_crops, ref_crops, seed), g.get_state())
    floor = _FLOORS[key]
    g.set_state(floor.rng_after)
    return floor


def evaluate(fake_textures: torch.Tensor, exemplar: torch.Tensor, crop: int = 64,
             n_crops: int = 256, seed: int = 0, per_image: int = 64) -> dict:
    """The report ``texgan eval`` prints (JSON-ready).

    fake_textures [N, C, H, W] generated textures; exemplar [C, H, W] the training image.

    swd        multi-scale SWD between n_crops crops of the fakes and n_crops reference
               crops of the exemplar (one half of it, see notes).
    swd_floor  the same measure between held-out real crops (the other half) and the same
               reference crops: what unseen real texture scores. swd_ratio = swd/swd_floor;
               ~1 is as good as real, well below 1 hints at copying the reference half.
    swd_levels, swd_floor_levels, swd_ratio_levels
               the same per Laplacian level, finest first; swd_ratio_worst is the largest
               level ratio (coarse structure fails there first).
    seam_ratio mean seam_ratio over the fakes (1.0 = seamless).
    color_distance, color_floor, color_ratio
               sliced W1 between the pixel colours of the fake and the reference crops, its
               floor (held-out real crops) and their ratio: wrong hues show here (x1e3).
    diversity  mean L1 between fakes of different seeds; diversity_real is the same for
               random exemplar crops (fake-sized where two fit side by side, else `crop`).

    Crops never wrap, for fakes and exemplar alike, so seams do not leak into the SWD; they
    are scored by seam_ratio instead. Deterministic given ``seed``.
    """
    if fake_textures.ndim != 4 or exemplar.ndim != 3:
        raise ValueError("evaluate expects fake_textures [N, C, H, W] and exemplar [C, H, W]")
    if fake_textures.shape[1] != exemplar.shape[0]:
        raise ValueError(f"channel mismatch: fakes have {fake_textures.shape[1]} channels, "
                         f"the exemplar has {exemplar.shape[0]}")
    _, eh, ew = exemplar.shape
    if eh < crop or ew < crop:
        raise ValueError(f"exemplar is {eh}x{ew} px, smaller than the {crop} px crop; "
                         f"use a smaller crop or a larger exemplar")
    n, _, fh, fw = fake_textures.shape
    if fh < crop or fw < crop:
        raise ValueError(f"generated textures are {fh}x{fw} px, smaller than the {crop} px crop")
    fakes, real = fake_textures.float(), exemplar.float()

    g = torch.Generator().manual_seed(seed)
    fake_crops = _crops_from_set(fakes, n_crops, crop, g)
    floor = _real_floor(real, n_crops, crop, seed, per_image, g)
    ref_crops = floor.ref_crops
    notes = [floor.how]
    # Same seed as the floor's: identical descriptor positions and projection directions.
    swd_f = multiscale_swd(fake_crops, ref_crops, seed=seed, per_image=per_image)
    swd, floor_mean = swd_f["mean"], floor.swd["mean"]
    # Large structure lives in the coarse levels, where a mean over levels hides a failure.
    level_ratios = [f / r if r > 0 else None for f, r in zip(swd_f["per_level"], floor.swd["per_level"])]

    # Colour: the Laplacian levels are band-pass (colour lives only in the coarsest residual), so
    # compare the distribution of pixel colours itself, against the same floor.
    color, color_floor = color_distance(fake_crops, ref_crops, seed), floor.color

    div = diversity(fakes) if n >= 2 else None
    if n < 2:
        notes.append("diversity: needs at least 2 generated textures")
    # Random crops only differ if the image has room for several of them; require that two
    # fake-sized crops fit side by side, else fall back to `crop` (L1 between independent
    # windows of a stationary texture hardly depends on window size).
    fits = fh == fw and 2 * fh <= min(eh, ew)
    size = fh if fits else crop
    if not fits:
        notes.append(f"diversity_real: fakes ({fh}x{fw}) too large for distinct exemplar "
                     f"crops; used {crop} px crops")
    div_real = diversity(random_crops(real, max(n, 2), size, g))
    return {
        "swd": swd,
        "swd_floor": floor_mean,
        "swd_ratio": swd / floor_mean if floor_mean > 0 else None,
        "swd_levels": swd_f["per_level"],
        "swd_floor_levels": floor.swd["per_level"],
        "swd_ratio_levels": level_ratios,
        "swd_ratio_worst": max((r for r in level_ratios if r is not None), default=None),
        "color_distance": color,
        "color_floor": color_floor,
        "color_ratio": color / color_floor if color_floor > 0 else None,
        "seam_ratio": sum(seam_ratio(f) for f in fakes) / n,
        "diversity": div,
        "diversity_real": div_real,
        "crop": crop,
        "n_crops": n_crops,
        "notes": notes,
    }


class QualityProbe:
    """A cheap SWD ratio while training: fixed real crops, the floor computed once.

    `exemplar` [C, H, W] in [0, 1] at the training resolution. `ratio(fakes)` scores a few
    generated crops [N, C, crop, crop] in [0, 1] against the same reference crops that the
    floor used, with the same descriptor positions and projections (seeded), so successive
    values differ only by what the generator paints. Returns (mean ratio, worst level ratio).
    Fewer crops than `evaluate` uses, so it is noisier; `texgan eval` is the measurement.
    """

    def __init__(self, exemplar: torch.Tensor, crop: int, n: int = 32, per_image: int = 32, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.ref, held, _ = _reference_and_heldout(exemplar.float(), n, crop, g)
        self.n, self.per_image, self.seed = n, per_image, seed
        floor = self._swd(held)
        self.floor = [max(f, 1e-9) for f in floor]

    def _swd(self, crops: torch.Tensor) -> list[float]:
        return multiscale_swd(crops.float(), self.ref, seed=self.seed, per_image=self.per_image,
                              n_projections=128, repeats=2)["per_level"]

    def ratio(self, fakes: torch.Tensor) -> tuple[float, float]:
        levels = [f / r for f, r in zip(self._swd(fakes[: self.n]), self.floor)]
        return sum(levels) / len(levels), max(levels)
