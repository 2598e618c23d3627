"""Channel meanings -> named texture maps, colour spaces, and normal maps from height.

numpy only (part of the extension's bpy-free core; it runs inside Blender too; no bpy, no Pillow).

A texgan model paints C channels, each with a meaning from the model's metadata
(`texgan.channels`), e.g. ["base_color.r", "base_color.g", "base_color.b", "height", "roughness"].
Channels named "<map>.r/.g/.b" form one colour map; every other channel is a scalar map.

Colour spaces (what the *values* are, [0, 1]):
  * base_color (and any other ".r/.g/.b" map): sRGB-encoded colour, like an 8-bit photo.
    Blender: colour space "sRGB". EXR files store it converted to scene-linear.
  * height, roughness, any scalar map, and the derived normal map: linear data.
    Blender: colour space "Non-Color".

Normal maps are tangent-space, OpenGL convention (Y+ / "green up", as Blender expects):
rgb = n * 0.5 + 0.5 with n = normalize(-strength * dh/dx, +strength * dh/dy_row, 1), where
dh/dx and dh/dy_row are central differences in height units per pixel along columns and
rows (rows run down the image), taken with wrap-around so the normal map tiles like the
height map. `strength` is the depth, in pixels, of the full height range [0, 1].
For DirectX-convention engines, invert the green channel.
"""
from __future__ import annotations

import numpy as np

COLOR_SUFFIXES = (".r", ".g", ".b")
DEFAULT_NORMAL_STRENGTH = 4.0
# Blender colour-space names per map kind.
BLENDER_COLOR_SPACE = {"color": "sRGB", "data": "Non-Color"}


def map_layout(channels: list[str]) -> list[dict]:
    """[{"name", "channels": [indices], "kind": "color"|"data"}] in channel order.

    "color" maps are sRGB-encoded RGB (3 channels), "data" maps are linear scalars (1 channel).
    """
    layout: list[dict] = []
    i = 0
    while i < len(channels):
        c = channels[i]
        stem, dot, _ = c.rpartition(".")
        if dot and c.endswith(".r") and channels[i:i + 3] == [stem + s for s in COLOR_SUFFIXES]:
            layout.append({"name": stem, "channels": [i, i + 1, i + 2], "kind": "color"})
            i += 3
            continue
        if any(c.endswith(s) for s in COLOR_SUFFIXES) and dot:
            raise ValueError(f"channel {c!r} is not part of a complete .r/.g/.b triple in {channels}")
        layout.append({"name": c, "channels": [i], "kind": "data"})
        i += 1
    names = [m["name"] for m in layout]
    if len(set(names)) != len(names):
        raise ValueError(f"channel meanings name a map twice: {channels}")
    return layout


def split_maps(result: np.ndarray, channels: list[str]) -> dict[str, np.ndarray]:
    """One texture [C, H, W] -> {"base_color": HxWx3, "height": HxW, ...} (views where possible).

    Values and dtype are kept as they are (float in [0, 1], or uint8/uint16 codes).
    """
    if result.ndim != 3 or result.shape[0] != len(channels):
        raise ValueError(f"expected [C={len(channels)}, H, W], got {tuple(result.shape)}")
    hwc = result.transpose(1, 2, 0)
    maps = {}
    for m in map_layout(channels):
        idx = m["channels"]
        maps[m["name"]] = hwc[..., idx[0]:idx[-1] + 1] if len(idx) == 3 else hwc[..., idx[0]]
    return maps


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding, float in [0, 1] -> linear (new float32 array)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0) + 0.055) / 1.055, 2.4)).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055).astype(np.float32)


def as_unit_float(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return a.astype(np.float32, copy=False)


def quantize(x: np.ndarray, dtype) -> np.ndarray:
    """Values in [0, 1] -> `dtype`: integer codes (0..255 / 0..65535, rounded) or clipped floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        top = float(np.iinfo(dtype).max)
        return np.rint(np.clip(x, 0.0, 1.0) * top).astype(dtype)
    return np.clip(x, 0.0, 1.0).astype(dtype, copy=False)


def _check_strength(strength: float) -> float:
    strength = float(strength)
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"normal strength must be a finite number >= 0, got {strength}")
    return strength


def normal_rows(height: np.ndarray, row0: int, row1: int, strength: float = DEFAULT_NORMAL_STRENGTH,
                dtype=np.float32) -> np.ndarray:
    """Rows [row0, row1) of normal_from_height(height, strength, dtype), computed alone (wraps)."""
    strength = _check_strength(strength)
    h = height.shape[0]
    rows = np.arange(row0 - 1, row1 + 1) % h
    blk = as_unit_float(height[rows])                      # [n+2, W] with wrapped neighbour rows
    mid = blk[1:-1]
    dx = (np.roll(mid, -1, axis=1) - np.roll(mid, 1, axis=1)) * 0.5
    dy = (blk[2:] - blk[:-2]) * 0.5                          # along rows (down the image)
    nx, ny = -strength * dx, strength * dy                   # OpenGL: +Y points up the image
    inv = 1.0 / np.sqrt(nx * nx + ny * ny + 1.0)
    n = np.stack([nx * inv, ny * inv, inv], axis=-1) * 0.5 + 0.5
    # Floats stay unclipped: n is in [0, 1] up to rounding, and the bytes written must not change.
    return quantize(n, dtype) if np.dtype(dtype).kind == "u" else n.astype(dtype, copy=False)


def normal_from_height(height: np.ndarray, strength: float = DEFAULT_NORMAL_STRENGTH,
                       dtype=np.float32, block_rows: int = 512) -> np.ndarray:
    """Tangent-space normal map (OpenGL, Y+) HxWx3 in [0, 1] from a height map HxW in [0, 1].

    Wrap-around central differences, so a tileable height map gives a tileable normal map.
    `height` may be float or uint8/uint16 codes; the result has `dtype` (float in [0, 1], or
    uint8/uint16 codes). Works in blocks of rows, so memory beyond the result stays small.
    """
    if height.ndim != 2:
        raise ValueError(f"height must be HxW, got {tuple(height.shape)}")
    _check_strength(strength)
    h, w = height.shape
    out = np.empty((h, w, 3), dtype=dtype)
    for r0 in range(0, h, block_rows):
        r1 = min(h, r0 + block_rows)
        out[r0:r1] = normal_rows(height, r0, r1, strength, dtype)
    return out


class LazyNormalMap:
    """normal_from_height as an array-like that computes row blocks on demand
    (shape, dtype, [row slice]); lets a streaming writer skip holding the whole normal map."""

    def __init__(self, height: np.ndarray, strength: float = DEFAULT_NORMAL_STRENGTH, dtype=np.float32):
        if height.ndim != 2:
            raise ValueError(f"height must be HxW, got {tuple(height.shape)}")
        self.height, self.strength, self.dtype = height, _check_strength(strength), np.dtype(dtype)
        self.shape = (height.shape[0], height.shape[1], 3)
        self.ndim = 3

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("LazyNormalMap supports contiguous row slices only")
        r0, r1, _ = rows.indices(self.shape[0])
        return normal_rows(self.height, r0, r1, self.strength, self.dtype)

    def __array__(self, dtype=None, copy=None):
        a = normal_from_height(self.height, self.strength, self.dtype)
        return a if dtype is None else a.astype(dtype)
