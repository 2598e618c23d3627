"""Former home of the map helpers, kept so existing imports (`addon.maps.split_maps`) work; see addon/core/maps.py."""
from __future__ import annotations

from .core.maps import (BLENDER_COLOR_SPACE, COLOR_SUFFIXES, DEFAULT_NORMAL_STRENGTH, LazyNormalMap,  # noqa: F401
                        as_unit_float, linear_to_srgb, map_layout, normal_from_height, normal_rows, quantize,
                        split_maps, srgb_to_linear)
