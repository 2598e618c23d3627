"""Map files inside Blender: Blender's own image writer (PNG 8/16-bit, OpenEXR half/float), which works
in the bpy module and in a Blender binary alike, and file-backed images for the wired materials."""
from __future__ import annotations

import os

from ..core.files import atomic_path

IO_SCENE = "texgan bake io"


def _io_scene():
    import bpy
    sc = bpy.data.scenes.get(IO_SCENE)
    if sc is None:
        sc = bpy.data.scenes.new(IO_SCENE)
    return sc


def _drop_io_scene():
    import bpy
    sc = bpy.data.scenes.get(IO_SCENE)
    if sc is not None:
        bpy.data.scenes.remove(sc)


def save_map(array, path: str, fmt: str, bits: int, color: bool) -> None:
    """Write an HxW or HxWx3 map in [0, 1] atomically (temporary name, then rename).

    PNG stores the values as they are (base colour sRGB-encoded, data maps raw); EXR is
    scene-linear, so base colour is converted from sRGB to linear. Scalar maps are grey.
    """
    import bpy
    import numpy as np
    from ..blender_images import to_rgba
    from ..core.maps import srgb_to_linear

    a = np.asarray(array, dtype=np.float32)
    if fmt == "exr" and color:
        a = srgb_to_linear(a)
    h, w = a.shape[:2]
    image = bpy.data.images.new("texgan bake io", w, h, alpha=False, float_buffer=True)
    try:
        image.colorspace_settings.name = "Non-Color"  # raw values in, raw values out
        image.pixels.foreach_set(to_rgba(a))
        settings = _io_scene().render.image_settings
        settings.file_format = 'PNG' if fmt == "png" else 'OPEN_EXR'
        settings.color_mode = 'RGB' if a.ndim == 3 else 'BW'
        settings.color_depth = str(bits)
        if fmt == "png":
            settings.compression = 15
        else:
            settings.exr_codec = 'ZIP'
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_path(path) as tmp:
            image.save_render(tmp, scene=_io_scene())
    finally:
        bpy.data.images.remove(image)


def _colorspace(role: str, fmt: str) -> str:
    from ..blender_images import role_format
    space = role_format(role)[0]
    return "Linear Rec.709" if space == "sRGB" and fmt == "exr" else space


def _file_image(name: str, role: str, path: str, fmt: str, info: dict):
    """A Blender image that reads ``path`` (which may not exist yet), tagged as texgan's."""
    import bpy
    from ..blender_images import TAG
    image = bpy.data.images.new(name, 1, 1)
    image.source = 'FILE'
    try:
        image.filepath = bpy.path.relpath(path) if bpy.data.filepath else path
    except ValueError:  # another drive (Windows)
        image.filepath = path
    image.colorspace_settings.name = _colorspace(role, fmt)
    image.alpha_mode = 'NONE'
    image[TAG] = role
    for k, v in info.items():
        image[f"texgan_{k}"] = v
    return image
