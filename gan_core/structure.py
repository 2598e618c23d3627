"""How large is the exemplar's structure, and what training settings follow from it (torch only).

A discriminator can only ask for what it sees whole, so crop size, working resolution and the
discriminator's field follow from the size of the exemplar's large structure: a stone, a brick,
a board. It is measured on the luminance power spectrum (Hann-windowed, since photos do not
tile): the structure size is the wavelength above which only STRUCTURE_QUANTILE of the
luminance variance lies, i.e. most of the image's contrast is in features no larger than it.
For stripes of period P this is P; for a cell noise of cell size S it is S (tests check both);
fine grain reads as a few pixels, bricks as their course or length.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

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


def structure_size(image: torch.Tensor) -> float:
    """The structure size in pixels of one [C, H, W] exemplar (see the module doc)."""
    lum = luminance(image.double())
    factor = max(1, math.ceil(max(lum.shape) / MAX_SIDE))
    if factor > 1:
        lum = F.avg_pool2d(lum[None, None], factor)[0, 0]
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


@dataclass
class Plan:
    """Training settings chosen from the structure size, with the reason in words."""
    structure_px: float
    size: int                 # training crop, working pixels
    work_scale: float         # working resolution / exemplar resolution (1 = as is)
    d_scales: int
    why: str


def plan_training(structure_px: float, min_side: int, g_scale: int, size: int = 0, work_scale: float = 0.0,
                  d_scales: int = 0) -> Plan:
    """Crop, working resolution and discriminator scales for a structure of `structure_px`.

    A crop holds about 2.5 structures (whole ones, with neighbours) up to MAX_CROP; larger
    structure is trained on a downscaled exemplar, so it fits, and export paints at the
    exemplar's scale again. D's coarsest scale sees at least 1.5 structures. Arguments other
    than 0 are the user's and win.
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
        while scales < 4 and D_FIELD_PX * 2 ** (scales - 1) < 1.5 * s_work and crop // 2 ** scales >= 16:
            scales += 1
        scales = max(scales, 2)
    why = (f"structure ~{structure_px:.0f} px: crop {crop} px"
           + (f" at 1/{round(1 / scale)} resolution (structure larger than a {MAX_CROP} px crop holds)" if scale < 1 else "")
           + f", {scales} discriminator scales (field {D_FIELD_PX * 2 ** (scales - 1)} px)")
    return Plan(structure_px, crop, scale, scales, why)
