"""Files: one atomic write, temp-file hygiene, and the PNG / EXR writer.

Every file texgan writes goes to a temporary name in its folder (``.<name>.<host>~<pid>.tmp<ext>``)
and is renamed into place only when complete, so a failure never leaves a half-written file; a
later run on the same host removes the leftovers of writers that died (remove_stale_temps).

PNG: pypng, because Pillow cannot write 16-bit RGB PNGs. Rows are streamed, so writing a
16384^2 map needs no second copy of the image. Base colour maps get an sRGB chunk; data maps
(height, roughness, normal) get none, which readers treat as raw values.

EXR: OpenEXR, ZIP compression. EXR is scene-linear by convention, so base colour is
converted from sRGB to linear; data maps are written as they are. Colour maps are written
as channels R, G, B; scalar maps as one channel Y.

pypng and OpenEXR are imported only when a PNG or EXR is written here: inside Blender, images
are written with Blender's own writer (addon/bake) and only the atomic-write helpers are used.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
from pathlib import Path

import numpy as np

from .maps import as_unit_float, srgb_to_linear

def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname()) or "host"


def temp_path(path) -> str:
    """Where `path` is written before the rename: a hidden name in the same folder, tagged with this
    host and process so a later run can tell a dead writer's leftovers from a live one's."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}.{_host_tag()}~{os.getpid()}.tmp{os.path.splitext(name)[1]}")


_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)\.tmp(\.[A-Za-z0-9]+)?$")


def remove_stale_temps(out_dir: str) -> list:
    """Delete temporary files that a bake on this host left when it was killed mid-write (their
    process is gone). Files of live processes and of other hosts (shards sharing the folder) stay."""
    host = _host_tag()
    removed = []
    for root, _, files in os.walk(out_dir):
        for name in files:
            m = _TEMP_NAME.match(name)
            if not m or m["host"] != host:
                continue
            try:
                os.kill(int(m["pid"]), 0)
                continue   # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue   # alive, another user's
            os.remove(os.path.join(root, name))
            removed.append(os.path.join(root, name))
    return removed


@contextlib.contextmanager
def atomic_path(path):
    """Yield the temporary name to write `path` to; rename it into place if the block succeeds,
    remove it if the block fails."""
    path = os.fspath(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def file_sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


FORMATS = {".png": "png", ".exr": "exr"}


def _to_codes(block: np.ndarray, bits: int) -> np.ndarray:
    """Float [0, 1] or integer codes -> big-endian integer codes of `bits` bits."""
    if bits not in (8, 16):
        raise ValueError(f"PNG bit depth must be 8 or 16, got {bits}")
    top = 255 if bits == 8 else 65535
    if block.dtype.kind == "f":
        codes = np.rint(np.clip(block, 0.0, 1.0) * top)
    elif block.dtype == np.uint8:
        codes = block.astype(np.uint32) * (top // 255) if bits == 16 else block
    elif block.dtype == np.uint16:
        codes = block if bits == 16 else np.rint(block.astype(np.float32) * (255.0 / 65535.0))
    else:
        raise ValueError(f"cannot write {block.dtype} pixels")
    return codes.astype(">u1" if bits == 8 else ">u2", copy=False)


def write_png(path, image: np.ndarray, bits: int = 8, srgb: bool = False, level: int | None = None,
              block_rows: int = 256) -> None:
    """image HxW (grey) or HxWx3 (RGB): float in [0, 1] or uint8/uint16 codes.

    Rows are converted block by block and streamed to pypng, so a 16384^2 map needs no
    second full-size copy. srgb marks base colour with an sRGB chunk; data maps get none.
    level: zlib level; default 6, or 1 above 4096^2 pixels (several times faster, files ~10% larger).
    """
    import png
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"PNG needs HxW or HxWx3 pixels, got {tuple(image.shape)}")
    h, w = image.shape[:2]
    if level is None:
        level = 6 if h * w <= 4096 * 4096 else 1

    def packed_rows():
        for r0 in range(0, h, block_rows):
            codes = _to_codes(image[r0:r0 + block_rows], bits)
            for row in codes.reshape(codes.shape[0], -1):
                yield row.tobytes()

    writer = png.Writer(w, h, greyscale=image.ndim == 2, bitdepth=bits, compression=level)
    with open(path, "wb") as f:
        writer.write_packed(f, packed_rows())
    if srgb:
        _add_srgb_chunk(path)


def _add_srgb_chunk(path) -> None:
    """Insert an sRGB chunk (perceptual intent) after IHDR, as PNG requires before IDAT."""
    import png
    chunks = list(png.Reader(filename=str(path)).chunks())
    with open(path, "wb") as f:
        png.write_chunks(f, chunks[:1] + [(b"sRGB", b"\x00")] + chunks[1:])


def read_png(path) -> np.ndarray:
    """Decode an 8/16-bit grey or RGB PNG to uint8/uint16 HxW or HxWx3 (Pillow reads 16-bit RGB as 8-bit)."""
    import png
    try:
        w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    except png.Error as e:
        raise ValueError(f"{path} is not a readable PNG file: {e}") from None
    dtype = np.uint16 if info["bitdepth"] > 8 else np.uint8
    pix = np.vstack([np.asarray(r, dtype=dtype) for r in rows])
    planes = info["planes"]
    return pix.reshape(h, w) if planes == 1 else pix.reshape(h, w, planes)


def write_exr(path, image: np.ndarray, half: bool = True) -> None:
    """image HxW (channel Y) or HxWx3 (R, G, B), float values written as they are."""
    import OpenEXR
    dtype = np.float16 if half else np.float32
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        channels = {"Y": np.ascontiguousarray(image, dtype=dtype)}
    elif image.ndim == 3 and image.shape[2] == 3:
        channels = {"RGB": np.ascontiguousarray(image, dtype=dtype)}
    else:
        raise ValueError(f"EXR needs HxW or HxWx3 pixels, got {tuple(image.shape)}")
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, channels) as f:
        f.write(str(path))


def write_small_png(path, rgb) -> None:
    """An 8-bit RGB PNG without pypng, for thumbnails inside Blender (whose Python has neither pypng nor
    Pillow). ``rgb``: HxWx3 uint8. Whole image in memory: for small images only."""
    import struct
    import zlib
    a = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, :3])
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(png)


def encode_map(path, image: np.ndarray, fmt: str, bits: int, color: bool) -> None:
    """Write one map; color=True marks sRGB base colour (linearised for EXR)."""
    if fmt == "png":
        write_png(path, image, bits=bits, srgb=color)
    elif fmt == "exr":
        if not isinstance(image, np.ndarray):  # e.g. a LazyNormalMap: EXR is written in one piece
            image = np.asarray(image)
        if bits not in (16, 32):
            raise ValueError(f"EXR stores 16-bit half or 32-bit float, not {bits}-bit")
        if color:
            lin = np.empty(image.shape, dtype=np.float16 if bits == 16 else np.float32)
            for r0 in range(0, image.shape[0], 512):  # in row blocks to keep memory flat
                lin[r0:r0 + 512] = srgb_to_linear(as_unit_float(image[r0:r0 + 512]))
            image = lin
        else:
            image = as_unit_float(image) if image.dtype.kind == "u" else image
        write_exr(path, image, half=(bits == 16))
    else:
        raise ValueError(f"unknown image format {fmt!r}: use png or exr")


class AtomicFiles:
    """Reserve temporary files beside each target; commit() renames them all, abort() removes them.

    Reserving first also proves each folder is writable before any slow work starts.
    """

    def __init__(self, targets, force: bool = False):
        self.targets = [Path(t) for t in targets]
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("two outputs would get the same file name")
        for t in self.targets:
            if t.is_dir():
                raise IsADirectoryError(f"output {t} is a folder")
            if t.exists() and not force:
                raise FileExistsError(f"{t} already exists; pass --force to overwrite it")
        self.temps: list[Path] = []
        try:
            for t in self.targets:
                if not t.parent.is_dir():
                    raise FileNotFoundError(f"output folder {t.parent} does not exist")
                tmp = Path(temp_path(t))
                tmp.open("wb").close()
                self.temps.append(tmp)
        except OSError as e:
            self.abort()
            if isinstance(e, (FileNotFoundError, FileExistsError, IsADirectoryError)) and not e.filename:
                raise
            raise OSError(f"cannot write to {t.parent} ({e.strerror or e})") from None

    def temp_for(self, target) -> Path:
        return self.temps[self.targets.index(Path(target))]

    def commit(self) -> None:
        for tmp, t in zip(self.temps, self.targets):
            os.chmod(tmp, 0o644)
            os.replace(tmp, t)
        self.temps = []

    def abort(self) -> None:
        for tmp in self.temps:
            tmp.unlink(missing_ok=True)
        self.temps = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False
