"""numpy maps -> Blender images (bpy only; the arrays come from the bpy-free inference core).

Rules that bite when broken:
- the colour space is set *before* the pixels are written (changing it later discards them);
- pixels go in through ``foreach_set`` as one flat float32 RGBA array, rows bottom-up
  (Blender's pixel origin is the bottom-left corner, numpy's the top-left);
- images are packed into the .blend (or saved beside it on request) so nothing is lost on save;
- only images texgan created (tagged ``image["texgan_role"]``) are ever written to.
"""
from __future__ import annotations

import os

import bpy
import numpy as np

TAG = "texgan_role"

# role -> (colour space, float buffer?). Height keeps full precision (packed as EXR): 8 bits of
# height make visible terraces through a Bump node. The rest are 8-bit like any texture photo.
ROLE_FORMAT = {
    "base_color": ("sRGB", False),
    "height": ("Non-Color", True),
    "normal": ("Non-Color", False),
    "roughness": ("Non-Color", False),
    "metallic": ("Non-Color", False),
    "ao": ("Non-Color", False),
    "opacity": ("Non-Color", False),
}


def role_format(role: str) -> tuple[str, bool]:
    return ROLE_FORMAT.get(role, ("Non-Color", False))


def to_rgba(array: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx3 or HxWx4 floats in [0, 1] -> flat float32 RGBA, rows flipped for Blender."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an HxW or HxWxC map, got shape {a.shape}")
    h, w, c = a.shape
    rgba = np.ones((h, w, 4), dtype=np.float32)
    if c == 1:
        rgba[:, :, :3] = a
    elif c == 2:  # e.g. a two-channel normal: keep x, y; z = 1
        rgba[:, :, :2] = a
    else:
        rgba[:, :, :c] = a[:, :, :4]
    np.clip(rgba, 0.0, 1.0, out=rgba)
    return np.ascontiguousarray(rgba[::-1]).ravel()


def read_pixels(image) -> np.ndarray:
    """A Blender image as HxWx4 float32 with row 0 at the top (numpy's convention)."""
    w, h = image.size
    flat = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(flat)
    return flat.reshape(h, w, 4)[::-1]


def is_ours(image) -> bool:
    try:
        return image is not None and image.library is None and TAG in image.keys()
    except ReferenceError:
        return False


def write_image(name: str, role: str, array: np.ndarray, image=None, storage: str = "PACK",
                save_dir: str | None = None, info: dict | None = None):
    """Write ``array`` into ``image`` if it is one of ours (resized as needed), else into a new image.

    storage: 'PACK' packs the pixels into the .blend; 'SAVE' writes a file into ``save_dir`` (PNG, or
    OpenEXR for float maps) and references it relatively. Returns the image.
    """
    a = np.asarray(array)
    height, width = a.shape[:2]
    colorspace, is_float = role_format(role)
    if not is_ours(image) or image.is_float != is_float:
        image = bpy.data.images.new(name, width, height, alpha=False, float_buffer=is_float)
    else:
        if image.packed_file is not None:
            image.unpack(method='REMOVE')
        if image.source != 'GENERATED':
            image.source = 'GENERATED'
            image.filepath = ""
        if tuple(image.size) != (width, height):
            image.generated_width, image.generated_height = width, height
            if tuple(image.size) != (width, height):
                image.scale(width, height)
    image[TAG] = role
    if info:
        for key, value in info.items():
            image[f"texgan_{key}"] = value
    image.colorspace_settings.name = colorspace  # before the pixels, or they are discarded
    image.alpha_mode = 'NONE'
    image.pixels.foreach_set(to_rgba(a))
    image.update()
    if storage == "SAVE" and save_dir:
        os.makedirs(save_dir, exist_ok=True)
        ext, fmt = (".exr", "OPEN_EXR") if is_float else (".png", "PNG")
        filepath = os.path.join(save_dir, bpy.path.clean_name(image.name) + ext)
        image.filepath_raw = filepath
        image.file_format = fmt
        image.save()
        try:
            image.filepath = bpy.path.relpath(filepath) if bpy.data.filepath else filepath
        except ValueError:  # another drive on Windows: keep it absolute
            image.filepath = filepath
        image.source = 'FILE'
        image.reload()
        image.colorspace_settings.name = colorspace
    else:
        image.file_format = 'OPEN_EXR' if is_float else 'PNG'
        image.pack()
    return image
