"""numpy maps -> Blender images (bpy only; the arrays come from the bpy-free inference core).

Rules that bite when broken:
- the colour space is set *before* the pixels are written (changing it later discards them);
- pixels go in through ``foreach_set`` as one flat float32 RGBA array, rows bottom-up
  (Blender's pixel origin is the bottom-left corner, numpy's the top-left);
- images are packed into the .blend (or saved beside it on request) so nothing is lost on save;
- only images texgan created (tagged ``image["texgan_role"]``) are ever written to.

Packing encodes PNG/EXR on the main thread (a large share of a headless Generate), so without a
UI (background mode, the bpy module) it is left for save time: the image stays a dirty generated
image tagged ``image["texgan_pack"]`` and :func:`pack_pending_images` packs it before any .blend
is written (a ``save_pre`` handler, plus explicit calls wherever texgan saves a .blend itself).
With a UI, images are packed at once: Blender's undo/redo, autosave and a colour-space change
all drop the pixels of an unpacked generated image.
"""
from __future__ import annotations

import os

import bpy
import numpy as np

from .core.files import atomic_path

TAG = "texgan_role"
PACK_TAG = "texgan_pack"  # packed at save time (see pack_pending_images)

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
    """HxW, HxWx1, HxWx3 or HxWx4 floats in [0, 1] -> flat float32 RGBA, rows flipped for Blender.

    One output buffer and no full-size temporaries: every channel is clipped straight into a
    row-flipped view of it. (Grey maps fill R, G and B; a two-channel map, e.g. a normal's x and y,
    gets B = 1; alpha is 1 unless the map has a fourth channel.)
    """
    a = np.asarray(array)
    if a.dtype.kind != "f":  # integers / bools: same values as before, as floats (rare; not a hot path)
        a = a.astype(np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an HxW or HxWx1..4 map, got shape {a.shape}")
    h, w, c = a.shape
    rgba = np.empty((h, w, 4), dtype=np.float32)
    flipped = rgba[::-1]  # writing numpy row y lands in Blender's row h-1-y (bottom-up)
    # Bands of rows (~512 KB of output each) so a band's input stays in cache while each of its
    # channels is copied: ~40% faster than whole-image passes on strided model output.
    band = max(1, (1 << 19) // (w * 16))
    for y0 in range(0, h, band):
        src, dst = a[y0:y0 + band], flipped[y0:y0 + band]
        if c == 1:
            np.clip(src[:, :, 0], 0.0, 1.0, out=dst[:, :, 0])
            dst[:, :, 1] = dst[:, :, 0]
            dst[:, :, 2] = dst[:, :, 0]
        elif c == 4 and a.flags.c_contiguous:  # same pixel layout as the output: one pass
            np.clip(src, 0.0, 1.0, out=dst)
        else:  # one channel at a time: long inner loops (measured ~2x faster than one pass over
            # C=2/3 channels, and for the strided views split_maps hands over)
            for ch in range(c):
                np.clip(src[:, :, ch], 0.0, 1.0, out=dst[:, :, ch])
        if c == 2:
            dst[:, :, 2] = 1.0
        if c < 4:
            dst[:, :, 3] = 1.0
    return rgba.reshape(-1)


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

    storage: 'PACK' packs the pixels into the .blend (at once, or when the .blend is saved if
    Blender runs without a UI: see :func:`defer_packing`); 'SAVE' writes a file into ``save_dir`` (PNG, or
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
    if PACK_TAG in image:
        del image[PACK_TAG]
    if storage == "SAVE" and save_dir:
        os.makedirs(save_dir, exist_ok=True)
        ext, fmt = (".exr", "OPEN_EXR") if is_float else (".png", "PNG")
        filepath = os.path.join(save_dir, bpy.path.clean_name(image.name) + ext)
        with atomic_path(filepath) as tmp:  # a complete file or none, like every file texgan writes
            image.filepath_raw = tmp
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
        if defer_packing():
            image[PACK_TAG] = True
            ensure_save_handler()
        else:
            image.pack()
    return image


# ---------------------------------------------------------------------------------------------
# Packing at save time

def defer_packing() -> bool:
    """Leave packing for save time? Only without a UI: there nobody undoes, redoes or edits the
    images before the script saves, and no autosave runs. (In a UI session an unpacked generated
    image loses its pixels on redo after undo, on Reload or on a colour-space change.)"""
    return bool(bpy.app.background)


def pending_images() -> list:
    """texgan images waiting to be packed: tagged, local, not packed yet."""
    out = []
    for image in bpy.data.images:
        try:
            if image.get(PACK_TAG) and image.library is None and image.packed_file is None:
                out.append(image)
        except ReferenceError:
            continue
    return out


def pack_pending_images() -> list:
    """Pack every texgan image left for save time (PNG, or OpenEXR for float maps). Returns them.

    Safe to call any time and more than once; call it before any .blend is written. An image
    whose pixels are gone (a generated image that was reloaded or had its colour space changed)
    cannot be packed: it is skipped with a console line. Either way, and for one that now reads a
    file (saved by hand), the image loses its tag.
    """
    packed = []
    for image in pending_images():
        if image.source != 'GENERATED':  # now reads a file (e.g. saved by hand): nothing to pack
            del image[PACK_TAG]
            continue
        if not image.is_dirty:  # regenerated blank by Blender: packing would store nothing useful
            print(f"texgan: image '{image.name}' lost its pixels before it was packed; generate it again")
            del image[PACK_TAG]
            continue
        image.file_format = 'OPEN_EXR' if image.is_float else 'PNG'
        image.pack()
        del image[PACK_TAG]
        packed.append(image)
    return packed


@bpy.app.handlers.persistent  # stays registered when another .blend is loaded
def _pack_before_save(*_args):
    try:
        pack_pending_images()
    except Exception as ex:  # noqa: BLE001 - never stop the user from saving
        print(f"texgan: packing images before saving failed: {ex}")


def _is_our_handler(fn) -> bool:
    # by name, not identity: a reloaded module has a new function object
    return getattr(fn, "__name__", "") == _pack_before_save.__name__ and getattr(fn, "__module__", "") == __name__


def ensure_save_handler() -> None:
    """Register the save_pre handler unless it is there (the add-on registers it; direct users of
    write_image in a script get it on their first deferred image)."""
    handlers = bpy.app.handlers.save_pre
    if not any(_is_our_handler(fn) for fn in handlers):
        handlers.append(_pack_before_save)


def register():
    ensure_save_handler()


def unregister():
    pack_pending_images()  # the handler goes away: do not leave images that no one will pack
    handlers = bpy.app.handlers.save_pre
    for fn in [fn for fn in handlers if _is_our_handler(fn)]:
        handlers.remove(fn)
