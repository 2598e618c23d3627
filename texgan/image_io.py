"""Write texture maps as PNG (8 or 16 bit) or OpenEXR (half or float), atomically.

PNG: our own small encoder (numpy + zlib), because Pillow cannot write 16-bit RGB PNGs.
It streams blocks of rows through zlib (filter "Sub" on every row), so writing a 16384^2
map needs no second copy of the image. Base colour maps get an sRGB chunk; data maps
(height, roughness, normal) get none, which readers treat as raw values.

EXR: OpenEXR, ZIP compression. EXR is scene-linear by convention, so base colour is
converted from sRGB to linear; data maps are written as they are. Colour maps are written
as channels R, G, B; scalar maps as one channel Y.

Every file is written to a temporary name in its folder and renamed into place only when
complete (`write_all`), so a failure never leaves a half-written image behind.
"""
from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FORMATS = {".png": "png", ".exr": "exr"}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


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

    level: zlib level; default 6, or 1 above 4096^2 pixels (several times faster, files ~10% larger).
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"PNG needs HxW or HxWx3 pixels, got {tuple(image.shape)}")
    h, w = image.shape[:2]
    if level is None:
        level = 6 if h * w <= 4096 * 4096 else 1
    channels = 1 if image.ndim == 2 else 3
    bpp = channels * bits // 8
    header = struct.pack(">IIBBBBB", w, h, bits, 0 if channels == 1 else 2, 0, 0, 0)
    comp = zlib.compressobj(level)
    with open(path, "wb") as f:
        f.write(PNG_SIGNATURE + _chunk(b"IHDR", header))
        if srgb:
            f.write(_chunk(b"sRGB", b"\x00"))
        for r0 in range(0, h, block_rows):
            rows = _to_codes(image[r0:r0 + block_rows], bits).reshape(-1, w * channels)
            raw = rows.view(np.uint8).reshape(rows.shape[0], w * bpp)
            filt = np.empty((raw.shape[0], raw.shape[1] + 1), dtype=np.uint8)
            filt[:, 0] = 1  # filter type Sub
            filt[:, 1:1 + bpp] = raw[:, :bpp]
            np.subtract(raw[:, bpp:], raw[:, :-bpp], out=filt[:, 1 + bpp:])  # wraps mod 256
            data = comp.compress(filt.tobytes())
            if data:
                f.write(_chunk(b"IDAT", data))
        f.write(_chunk(b"IDAT", comp.flush()))
        f.write(_chunk(b"IEND", b""))


def _unfilter_row(ft: int, line: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    if ft == 0:
        return line
    if ft == 1:  # Sub: running sum per byte lane, mod 256
        return np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
    if ft == 2:  # Up
        return line + prev
    out = line.astype(np.int32)
    b = prev.astype(np.int32)
    for x in range(out.size):  # Average / Paeth: byte by byte (only for foreign files)
        a = out[x - bpp] if x >= bpp else 0
        c = b[x - bpp] if x >= bpp else 0
        if ft == 3:
            pred = (a + b[x]) // 2
        else:
            p = a + b[x] - c
            pa, pb, pc = abs(p - a), abs(p - b[x]), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b[x] if pb <= pc else c)
        out[x] = (out[x] + pred) & 0xFF
    return out.astype(np.uint8)


def read_png(path) -> np.ndarray:
    """Decode a non-interlaced 8/16-bit grey or RGB PNG to uint8/uint16 HxW or HxWx3.

    Small and exact, for checking what write_png wrote (Pillow reads 16-bit RGB as 8-bit).
    """
    data = Path(path).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"{path} is not a PNG file")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    w, h, bits, ctype, _, _, interlace = hdr
    channels = {0: 1, 2: 3}.get(ctype)
    if channels is None or bits not in (8, 16) or interlace:
        raise ValueError(f"{path}: unsupported PNG layout (colour type {ctype}, {bits} bit)")
    bpp = channels * bits // 8
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), dtype=np.uint8)
    prev = np.zeros(w * bpp, dtype=np.uint8)
    for y in range(h):
        prev = out[y] = _unfilter_row(int(raw[y, 0]), raw[y, 1:], prev, bpp)
    pix = out.view(">u2").astype(np.uint16) if bits == 16 else out
    return pix.reshape(h, w) if channels == 1 else pix.reshape(h, w, 3)


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


def _as_float(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return a.astype(np.float32, copy=False)


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
            from addon.maps import srgb_to_linear
            lin = np.empty(image.shape, dtype=np.float16 if bits == 16 else np.float32)
            for r0 in range(0, image.shape[0], 512):  # in row blocks to keep memory flat
                lin[r0:r0 + 512] = srgb_to_linear(_as_float(image[r0:r0 + 512]))
            image = lin
        else:
            image = _as_float(image) if image.dtype.kind == "u" else image
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
                fd, tmp = tempfile.mkstemp(prefix=f".{t.stem}.", suffix=f".tmp{t.suffix}", dir=t.parent)
                os.close(fd)
                self.temps.append(Path(tmp))
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
