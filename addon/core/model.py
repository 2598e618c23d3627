"""A texgan generator opened with ONNX Runtime: metadata checked against the graph, then painting.

Used by the Blender extension, `texgan generate`, `texgan bake` and `texgan eval` (through
:mod:`.paint`). numpy and onnxruntime only: no bpy, torch, onnx, Pillow or gan_core.
"""
from __future__ import annotations

import copy
import hashlib
import os
from typing import Callable

import numpy as np

from .classes import class_weights as _class_weights
from .format import (CLASS_INPUT_NAME, INPUT_NAME, MAX_SIDE, OUTPUT_NAME, ModelError, check_signature,
                     parse_metadata, probe_graph, signature)
from .latent import check_seed
from .runtime import _open_session, open_on_device, physical_memory_bytes
from .tiling import paint_canvas, working_bytes

# Default tile side in pixels. On the CPU, 512 keeps ONNX Runtime's working set near 0.6 GB for
# the default generator (1024 px tiles: ~1.8 GB) at ~15% more halo compute; GPUs take bigger tiles.
DEFAULT_TILE = {"CPU": 512, "CUDA": 1024}
DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float16, np.uint8, np.uint16))


def _feeds(z: np.ndarray, classes: list, class_row, name: str) -> dict:
    z = np.ascontiguousarray(z, dtype=np.float32)
    feeds = {INPUT_NAME: z}
    if classes:
        if class_row is None:
            raise ValueError(f"model '{name}' is conditional: run_latent needs class weights")
        row = np.asarray(class_row, dtype=np.float32)
        feeds[CLASS_INPUT_NAME] = np.ascontiguousarray(
            np.broadcast_to(row, (z.shape[0], len(classes))) if row.ndim == 1 else row)
    return feeds


# Files whose graph already passed the probe: content digest -> parsed metadata. The probe is a
# property of the file's bytes, not of the session or device, and the add-on and bake open one
# model several times (library scan, then the painting session). Hashing a model costs about a
# millisecond per MB; timestamps would be cheaper but miss a same-size rewrite within one tick.
_PROBED: dict[str, dict] = {}


def _file_key(where: str) -> str | None:
    try:
        with open(where, "rb") as f:
            return hashlib.file_digest(f, "blake2b").hexdigest()
    except OSError:
        return None


def checked_metadata(session, where: str) -> dict:
    """The session's texgan metadata, parsed, matched to the signature and probed on the graph
    (the probe once per file version)."""
    meta = parse_metadata(dict(session.get_modelmeta().custom_metadata_map), where)
    check_signature(session, meta, where)
    key = _file_key(where)
    if key is not None and _PROBED.get(key) == meta:
        return meta
    classes = list(meta.get("classes") or [])
    row = np.full(len(classes), 1.0 / len(classes), np.float32) if classes else None
    probe_graph(lambda z: session.run([OUTPUT_NAME], _feeds(z, classes, row, where))[0], meta, where)
    if key is not None:
        _PROBED[key] = copy.deepcopy(meta)
    return meta


def read_metadata(path, with_signature: bool = False) -> dict:
    """The texgan metadata of a model file (keys without the "texgan." prefix), checked.

    Raises ModelError (one line) for a missing, corrupt, non-texgan or inconsistent file. With
    with_signature, adds "signature": {"inputs": [...], "outputs": [...]}.
    """
    key = _file_key(os.fspath(path))
    if key in _PROBED and not with_signature:
        return copy.deepcopy(_PROBED[key])      # this file version was opened and checked already
    session = _open_session(path, ["CPUExecutionProvider"], optimize=False)
    meta = checked_metadata(session, os.fspath(path))
    if with_signature:
        meta["signature"] = signature(session)
    return meta


def check_size(height, width, max_side: int = MAX_SIDE) -> tuple[int, int]:
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be a whole number of pixels, got {v!r}")
        if v < 1:
            raise ValueError(f"{name} must be at least 1 pixel, got {v}")
        if v > max_side:
            raise ValueError(f"{name} {v} is larger than the limit of {max_side} pixels per side")
    return int(height), int(width)


def check_count(seed, count) -> int:
    seed = check_seed(seed)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a whole number >= 1, got {count!r}")
    check_seed(seed + count - 1)
    return seed


class TextureModel:
    """One ONNX Runtime session of a texgan generator.

    device: "auto" (CUDA when it works, else CPU; the reason is in fallback_reason), "cuda"
    (ModelError when CUDA does not run), or "cpu". After creation `providers` holds the
    session's actual providers and `device` is "CUDA" or "CPU".
    """

    def __init__(self, path, device: str = "auto", cuda_lib_dir: str | None = None, threads: int | None = None):
        self.path = os.fspath(path)
        self.session, self.device, self.fallback_reason = open_on_device(self.path, device, cuda_lib_dir, threads)
        self.providers = list(self.session.get_providers())
        self.metadata = checked_metadata(self.session, self.path)
        self.channels: list[str] = list(self.metadata["channels"])
        self.maps: list[dict] = self.metadata["maps"]
        self.scale: int = int(self.metadata["scale"])
        self.radius: int = int(self.metadata["receptive_radius_cells"])
        self.latent_channels: int = int(self.metadata["latent"]["channels"])
        self.name: str = self.metadata.get("name", os.path.splitext(os.path.basename(self.path))[0])
        self.classes: list[str] = list(self.metadata.get("classes") or [])  # empty: unconditional

    def __repr__(self) -> str:
        return f"TextureModel({self.name!r}, {len(self.channels)} channels, scale {self.scale}, on {self.device})"

    def class_weights(self, choice) -> np.ndarray | None:
        """The class weight row [K] for `choice` (see classes.class_weights); None for unconditional
        models, which refuse any choice other than None."""
        if not self.classes:
            if choice is not None:
                raise ValueError(f"model '{self.name}' is not conditional: it has no classes to choose from")
            return None
        return _class_weights(self.classes, choice)

    def run_latent(self, z: np.ndarray, class_row: np.ndarray | None = None) -> np.ndarray:
        """Raw model call: latent [B, C, h, w] float32 -> [B, out_C, h*scale, w*scale] in [0, 1].
        Conditional models also need class_row: weights [K] (the same for every batch entry) or [B, K]."""
        return self.session.run([OUTPUT_NAME], _feeds(z, self.classes, class_row, self.name))[0]

    def check_size(self, height, width, max_side: int = MAX_SIDE) -> tuple[int, int]:
        return check_size(height, width, max_side)

    def generate(self, height: int, width: int, seed: int = 0, count: int = 1, tile: int | None = None,
                 progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None,
                 dtype=np.float32, max_side: int = MAX_SIDE, class_weights=None) -> np.ndarray:
        """`count` textures [count, C, height, width] in [0, 1]; texture i uses seed + i.

        class_weights: conditional models only (required there): a class name, an index, a
        {name: weight} dict, "a:0.5,b:0.5", or K weights; every tile and texture uses that row.

        dtype: float32 (default), float16, or uint8 / uint16 (values rounded to 0..255 / 0..65535),
        which keeps 16384^2 results small. The array is a view of channel-last memory
        ([count, H, W, C]); np.ascontiguousarray() it if a contiguous [C, H, W] layout matters.
        tile: tile side in pixels (default 512 on CPU, 1024 on CUDA); a texture no larger than one
        tile runs in one go. ModelError before any allocation when the estimate exceeds this
        machine's memory.
        progress(fraction) is called after each tile; cancel() is polled before each tile and
        raises Cancelled when it returns True.
        """
        H, W = check_size(height, width, max_side)
        class_row = self.class_weights(class_weights)
        seed = check_count(seed, count)
        dtype = np.dtype(dtype)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be float32, float16, uint8 or uint16, got {dtype}")
        s = self.scale
        tile_px = DEFAULT_TILE[self.device] if tile is None else int(tile)
        if tile_px < 1:
            raise ValueError(f"tile must be at least 1 pixel, got {tile}")
        tile_px = max(s, -(-tile_px // s) * s)
        need, have = working_bytes(self.metadata, H, W, count, tile_px, dtype.itemsize), physical_memory_bytes()
        if have is not None and need > have:
            raise ModelError(f"{count} x {W}x{H} of model '{self.name}' needs about {need / 2 ** 30:.1f} GiB, more "
                             f"than this machine's {have / 2 ** 30:.1f} GiB; paint smaller or fewer textures")
        out = np.empty((count, H, W, len(self.channels)), dtype=dtype)
        paint_canvas(lambda z: self.run_latent(z, class_row), self.metadata, out, seed, tile_px, self.radius,
                     progress, cancel)
        return out.transpose(0, 3, 1, 2)
