"""Former home of the PNG/EXR writer, kept for existing imports; the code is in addon/core/files.py."""
from __future__ import annotations

from addon.core.files import FORMATS, AtomicFiles, encode_map, read_png, write_exr, write_png  # noqa: F401
