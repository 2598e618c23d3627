"""paint: model + settings -> maps. The one flow behind `texgan generate`, the Blender Generate
operator (through the worker thread), `texgan bake`, `texgan eval` and `texgan demo`.

What differs between them is only what they ask for (integer codes for big PNGs, a lazily computed
normal map for streaming writers, float maps for Blender) and where the maps go afterwards, so
those are settings here; the painting, map splitting and normal derivation happen once.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .files import AtomicFiles, encode_map
from .format import MAX_SIDE
from .maps import DEFAULT_NORMAL_STRENGTH, LazyNormalMap, normal_from_height, split_maps


@dataclasses.dataclass
class PaintSettings:
    width: int
    height: int
    seed: int = 0
    count: int = 1                    # textures seed, seed+1, ...
    class_choice: object = None       # conditional models: name, index, blend, weights (see classes.py)
    tile: int | None = None           # tile side in pixels (None: the device's default)
    dtype: object = np.float32        # float32, float16, uint8 or uint16 codes
    normal: bool = False              # derive a normal map from height (when the model paints height)
    normal_strength: float = DEFAULT_NORMAL_STRENGTH
    normal_dtype: object = None       # None: float32
    lazy_normal: bool = False         # compute normal rows on demand (streaming writers)
    max_side: int = MAX_SIDE


@dataclasses.dataclass
class Painting:
    raw: np.ndarray                   # [count, C, H, W] as the model painted it
    channels: list
    settings: PaintSettings

    def maps(self, i: int = 0) -> dict:
        """Texture i as {"base_color": HxWx3, "height": HxW, ..., "normal": HxWx3 if asked}."""
        s = self.settings
        maps = split_maps(self.raw[i], self.channels)
        if s.normal and "height" in maps and "normal" not in maps:  # a painted normal map wins
            dtype = np.float32 if s.normal_dtype is None else s.normal_dtype
            maker = LazyNormalMap if s.lazy_normal else normal_from_height
            maps["normal"] = maker(maps["height"], s.normal_strength, dtype=dtype)
        return maps


def paint(model, settings: PaintSettings, progress=None, cancel=None) -> Painting:
    s = settings
    raw = model.generate(s.height, s.width, seed=s.seed, count=s.count, tile=s.tile, progress=progress, cancel=cancel,
                         dtype=s.dtype, max_side=s.max_side, class_weights=s.class_choice)
    return Painting(raw, list(model.channels), s)


def color_maps(model) -> set:
    """Names of the model's sRGB colour maps (a derived normal map is data)."""
    return {m["name"] for m in model.maps if m["kind"] == "color"}


def encode_maps(files: AtomicFiles, targets: dict, maps: dict, fmt: str, bits: int, colors: set) -> None:
    """Encode {map: path} of one texture into the reserved temporaries of `files` (PNG/EXR, files.py);
    leaving the AtomicFiles block renames them all into place together."""
    for name, path in targets.items():
        encode_map(files.temp_for(path), maps[name], fmt, bits, name in colors)
