"""Former home of the inference core, kept so existing imports (`addon.inference.TextureModel`) work.

The code lives in :mod:`addon.core` (see its docstring); new code imports from there.
"""
from __future__ import annotations

from .core.classes import class_weights  # noqa: F401
from .core.format import (CLASS_INPUT_NAME, INPUT_NAME, JSON_KEYS, KEY_ORDER, LATENT_RECIPE, MAX_SIDE,  # noqa: F401
                          OUTPUT_NAME, SCHEMA_VERSION, Cancelled, ModelError, parse_metadata)
from .core.latent import BLOCK, LatentSampler, _normals, _snapped_counts, _uniforms, check_seed, sample_latent  # noqa: F401
from .core.maps import quantize as _quantize  # noqa: F401
from .core.model import DEFAULT_TILE, TextureModel, read_metadata  # noqa: F401
from .core.runtime import _open_session, _session_options, cuda_unavailable_reason, ort_packages_clash  # noqa: F401
from .core.tiling import _apply_table, _keys_cubic, _resample_table, _tile_starts  # noqa: F401
