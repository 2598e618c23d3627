"""Derive aligned height and roughness maps from one colour photo (`texgan train --derive-maps`).

A single photo holds no measured height or roughness, so these maps are estimates from image
cues, made once before training; the GAN then learns all maps together, aligned, as it does for
a material folder. Method (docs/derive-maps.md has the measurements and the limits):

1. Base colour: divide out large-scale shading. Linear luminance blurred far beyond the texture's
   features (an uneven light, a vignette) is a shading field; the colour is divided by it and
   rescaled to the mean, so only the surface's own colour variation is left.
2. Height: frequency-separated luminance. A band of the de-shaded log luminance between a light
   denoising blur and the shading scale (`L*G(1px) - L*G(S/16)`, S the short side) follows
   relief: crevices, joints and grooves are the dark part in photos (they are shaded and hold
   dirt). The sign is then checked on the structure: joints and gaps form one connected network
   while tops are separate islands. If the *bright* extreme quarter is such a network and the dark
   one is not (light mortar between dark bricks), bright is low and the band is flipped.
   A crevice-proximity term (the lowest quarter, blurred) then lowers the ground next to gaps,
   like the bevels and domes of stones and bricks.
3. Roughness: crevices are rough (dirt, mortar, end grain) and so is busy fine detail: the
   negated height plus local contrast (the high-pass luminance's local RMS), mapped to 0.45-0.95.

Pure numpy/torch; everything is computed on a torus (FFT blurs) like the wrap-around crops that
train on the result.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)   # Rec. 709 weights of linear RGB
TAIL = 0.25              # extreme quarter of the height band: joints/gaps or tops
NETWORK_MIN = 0.5        # a tail "is a network" when one component holds at least this share of it
CREVICE_WEIGHT = 0.5     # weight of the crevice-proximity term (standardised units)
CONTRAST_WEIGHT = 2.0    # weight of local contrast in roughness (standardised units)
ROUGHNESS_MEAN, ROUGHNESS_STD = 0.7, 0.1


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0, 1)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a [H, W] map on a torus (exact for any sigma, via the FFT)."""
    if sigma <= 0:
        return a
    h, w = a.shape
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    gain = torch.exp(-2 * (np.pi * sigma) ** 2 * (fy ** 2 + fx ** 2))
    spec = torch.fft.rfft2(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)))
    return torch.fft.irfft2(spec * gain, s=(h, w)).numpy()


def _standardise(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / (a.std() + 1e-8)


def largest_component_share(mask: np.ndarray, wrap: bool = True) -> float:
    """Share of the mask's pixels in its largest 8-connected component (on a torus if wrap)."""
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))
    if not m.any():
        return 0.0
    # Connected components by label propagation with pointer jumping: a label is the index of a
    # pixel of the same component; each round every pixel takes the smallest label around it
    # (3x3, inside the mask), then follows labels as pointers, which halves long chains at once.
    # Labels are float32 for max_pool2d: exact up to 2**24 pixels.
    big = float(m.numel())
    labels = torch.where(m, torch.arange(m.numel(), dtype=torch.float32).reshape(m.shape), big)
    keep = m[None, None]
    pad = dict(mode="circular") if wrap else dict(mode="constant", value=-big)
    for _ in range(m.numel()):
        nb = -F.max_pool2d(F.pad(-labels[None, None], (1, 1, 1, 1), **pad), 3, 1)
        new = torch.where(keep, torch.minimum(labels[None, None], nb), big)[0, 0]
        sentinel = torch.tensor([big])
        for _ in range(4):   # outside the mask the label is `big`, which indexes the sentinel
            new = torch.cat([new.flatten(), sentinel])[new.long()]
        if torch.equal(new, labels):
            break
        labels = new
    labels = labels.long()
    counts = torch.bincount(labels[m])
    return float(counts.max()) / float(m.sum())


def network_shares(band: np.ndarray, window: int) -> tuple[float, float]:
    """(bright, dark): how much of the band's top and bottom quarter one connected piece holds,
    averaged over up to four windows of window px (a full-resolution look at the joints,
    at a cost that does not grow with the photo)."""
    h, w = band.shape
    wh, ww = min(window, h), min(window, w)
    shares = []
    for y in np.unique(np.linspace(0, h - wh, 2).round().astype(int)):
        for x in np.unique(np.linspace(0, w - ww, 2).round().astype(int)):
            win = band[y:y + wh, x:x + ww]
            lo, hi = np.quantile(win, [TAIL, 1 - TAIL])
            whole = (wh, ww) == (h, w)    # the whole image wraps around (as the crops do); a window does not
            shares.append((largest_component_share(win > hi, whole), largest_component_share(win < lo, whole)))
    bright, dark = np.mean(shares, axis=0)
    return float(bright), float(dark)


def remove_shading(color: np.ndarray, sigma: float) -> np.ndarray:
    """sRGB [H, W, 3] in [0, 1] -> the same with large-scale shading divided out (sRGB)."""
    lin = _srgb_to_linear(color.astype(np.float32))
    lum = lin @ LUMA
    shade = np.maximum(blur(lum, sigma), 1e-4)
    flat = lin * (lum.mean() / shade)[..., None]
    return _linear_to_srgb(flat).astype(np.float32)


def _normalise01(a: np.ndarray, lo_q: float = 0.005, hi_q: float = 0.995) -> np.ndarray:
    """Stretch to 0..1 between robust percentiles (a few outlier pixels do not flatten the rest)."""
    lo, hi = np.quantile(a, [lo_q, hi_q])
    return np.clip((a - lo) / max(float(hi - lo), 1e-8), 0, 1).astype(np.float32)


def _log_luma(srgb: np.ndarray) -> np.ndarray:
    """Log of linear luminance: shading multiplies, so in log space it adds and a band-pass
    separates it from the relief (homomorphic filtering). The 0.01 keeps black finite."""
    return np.log(_srgb_to_linear(srgb) @ LUMA + 0.01)


def derive(color: np.ndarray, crop: int = 64, info: dict | None = None) -> dict[str, np.ndarray]:
    """One photo -> aligned maps, as data.load_exemplars holds a material folder's maps:
    {"base_color": [H, W, 3], "height": [H, W, 1], "roughness": [H, W, 1]}, float32 in [0, 1].

    color: [H, W, 3] (or [H, W, 1] grey) sRGB in [0, 1]. crop: the training crop (--size).
    The GAN learns structure up to about its crop, so the scales are set from it, in pixels:
    variation broader than a quarter crop counts as shading (16 px at the default 64).
    info, when given, receives the decisions (scales, whether the band was flipped)."""
    if color.shape[-1] == 1:
        color = np.repeat(color, 3, axis=-1)
    shading_sigma = max(crop / 4, 2.0)
    crevice_sigma = max(crop / 16, 1.0)

    base = remove_shading(color, 2 * shading_sigma)
    lum = _log_luma(base)
    band = blur(lum, 1.0) - blur(lum, shading_sigma)
    bright_net, dark_net = network_shares(band, 4 * crop)
    flipped = bright_net >= NETWORK_MIN and bright_net > 2 * dark_net
    if flipped:
        band = -band
    crevices = (band < np.quantile(band, TAIL)).astype(np.float32)
    height = _standardise(band) - CREVICE_WEIGHT * _standardise(blur(crevices, crevice_sigma))

    detail = lum - blur(lum, 1.5)
    contrast = np.sqrt(np.maximum(blur(detail ** 2, 3.0), 0))
    rough = _standardise(-_standardise(height) + CONTRAST_WEIGHT * _standardise(contrast))
    rough = np.clip(ROUGHNESS_MEAN + ROUGHNESS_STD * rough, 0.45, 0.95).astype(np.float32)
    if info is not None:
        info.update(flipped=bool(flipped), bright_network=round(bright_net, 3), dark_network=round(dark_net, 3),
                    shading_sigma=shading_sigma, crevice_sigma=crevice_sigma)
    return {"base_color": base, "height": _normalise01(height)[..., None], "roughness": rough[..., None]}


def save_derived(exemplars, folder: Path) -> list[Path]:
    """Write the derived maps of loaded exemplars (channels base_color.r/g/b, height, roughness,
    values in [-1, 1]) as PNGs a user can inspect, and train on again as a material folder:
    folder/basecolor.png (8-bit sRGB), height.png (16-bit), roughness.png (8-bit); with several
    photos, folder/<name>_basecolor.png and so on. Each file is written atomically."""
    from PIL import Image
    from .checkpoint import atomic_write
    folder = Path(folder)
    written = []
    for name, im in zip(exemplars.names, exemplars.images):
        a = ((im.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
        prefix = "" if len(exemplars.names) == 1 else f"{name}_"
        images = {"basecolor": Image.fromarray(np.round(a[..., :3] * 255).astype(np.uint8), "RGB"),
                  "height": Image.fromarray(np.round(a[..., 3] * 65535).astype(np.uint16)).convert("I;16"),
                  "roughness": Image.fromarray(np.round(a[..., 4] * 255).astype(np.uint8), "L")}
        for kind, img in images.items():
            path = folder / f"{prefix}{kind}.png"
            atomic_write(path, lambda tmp, img=img: img.save(tmp, format="PNG"))
            written.append(path)
    from .data import warn
    warn(f"height and roughness were derived from the photo; inspect them in {folder}")
    return written


def derive_groups(groups: dict[str, dict[str, np.ndarray]], where: str, crop: int) -> dict[str, dict[str, np.ndarray]]:
    """data.load_exemplars' hook: each photo's base colour -> its derived maps."""
    from .data import DataError
    out = {}
    for name, maps in groups.items():
        given = sorted(set(maps) - {"base_color"})
        if given:
            raise DataError(f"{where}: --derive-maps is for plain photos, but {name} already has "
                            f"{' and '.join(given)} map(s); train on the material folder without --derive-maps")
        out[name] = derive(maps["base_color"], crop)
    return out
