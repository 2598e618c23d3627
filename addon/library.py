"""The model library: ``.onnx`` texture models found in folders (bpy-free).

Sources, in order: the folders set in the extension preferences, then the starter models shipped
inside the extension (``models/`` next to this file; ``texgan addon build`` bundles every
``models/*.onnx`` with its optional ``<stem>.png`` thumbnail). Everything shown about a model
(name, channels, scale, description) is read from the model's own metadata.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import threading
from pathlib import Path

from .core.files import atomic_path, write_small_png

BUILTIN_DIR = Path(__file__).resolve().parent / "models"
THUMBNAIL_KEYS = ("preview_png", "thumbnail_png", "preview", "thumbnail")  # base64 PNG in metadata, if any


@dataclasses.dataclass
class ModelInfo:
    path: str
    name: str
    channels: list
    roles: list
    scale: int | None = None
    description: str = ""
    builtin: bool = False
    thumbnail: str | None = None  # a PNG file, when one exists
    error: str | None = None  # why the file cannot be used (then the rest is empty)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        return self.path


def roles_of(channels) -> list:
    """['base_color.r', 'base_color.g', 'base_color.b', 'height', 'roughness'] -> ['base_color', 'height', 'roughness']."""
    roles = []
    for c in channels or []:
        role = str(c).split(".")[0]
        if role not in roles:
            roles.append(role)
    return roles


def _first(meta: dict, *keys, default=None):
    for key in keys:
        if key in meta and meta[key] not in (None, ""):
            return meta[key]
    return default


_CLASSES: dict = {}  # (real path, size, mtime) -> class names from the model's metadata


def model_classes(path: str) -> list:
    """The class names of a conditional model (metadata `classes`); [] for unconditional or unreadable files."""
    if not path:
        return []
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return []
    key = (real, st.st_size, st.st_mtime_ns)
    if key not in _CLASSES:
        from .core.model import read_metadata
        try:
            _CLASSES[key] = list(read_metadata(real).get("classes") or [])
        except Exception:  # noqa: BLE001 - describe() reports unusable files
            _CLASSES[key] = []
    return _CLASSES[key]


def describe(path: str | os.PathLike, builtin: bool = False) -> ModelInfo:
    """A ModelInfo for one file, never raising: a bad file gets ``error`` set."""
    from .core.model import read_metadata
    path = str(path)
    stem = Path(path).stem
    try:
        meta = read_metadata(path)
    except Exception as ex:  # ModelError for bad files; anything else is reported the same way
        msg = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        return ModelInfo(path, stem, [], [], builtin=builtin, error=msg)
    channels = list(_first(meta, "channels", "output_channels", default=[]) or [])
    scale = _first(meta, "scale", "pixels_per_cell")
    try:
        scale = int(scale) if scale is not None else None
    except (TypeError, ValueError):
        scale = None
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    description = _first(meta, "description", default="") or ""
    if not description and training:
        exemplars = [Path(str(e)).name for e in training.get("exemplars", []) or []]
        bits = ([", ".join(exemplars)] if exemplars else []) + \
            ([f"{training['steps']} steps"] if training.get("steps") else [])
        description = "trained on " + ", ".join(bits) if bits else ""
    info = ModelInfo(path, str(_first(meta, "name", "model_name", default=stem)), channels, roles_of(channels),
                     scale, str(description), builtin)
    sibling = Path(path).with_suffix(".png")
    if sibling.is_file():
        info.thumbnail = str(sibling)
    else:
        for key in THUMBNAIL_KEYS:
            if isinstance(meta.get(key), str):
                info.thumbnail = _embedded_thumbnail(path, meta[key])
                break
    if info.thumbnail is None:
        info.thumbnail = _cached_thumbnail(path)
    return info


def _cached_thumbnail(path: str) -> str | None:
    try:
        cached = thumbnail_cache_path(path)
    except OSError:
        return None
    return cached if cached and os.path.isfile(cached) else None


_THUMB_DIR = None


def set_thumbnail_dir(path: str | None) -> None:
    """Where thumbnails decoded from metadata or made from results are cached (the extension's user dir)."""
    global _THUMB_DIR
    _THUMB_DIR = path


def thumbnail_cache_path(model_path: str) -> str | None:
    if not _THUMB_DIR:
        return None
    st = os.stat(model_path)
    digest = hashlib.sha1(f"{os.path.realpath(model_path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return os.path.join(_THUMB_DIR, f"{Path(model_path).stem}-{digest}.png")


def _embedded_thumbnail(model_path: str, data: str) -> str | None:
    out = thumbnail_cache_path(model_path)
    if out is None:
        return None
    if not os.path.exists(out):
        try:
            os.makedirs(os.path.dirname(out), exist_ok=True)
            data = base64.b64decode(data)
            with atomic_path(out) as tmp:
                Path(tmp).write_bytes(data)
        except (OSError, ValueError):
            return None
    return out


def remember_thumbnail(info: ModelInfo, base_color, size: int = 128) -> str | None:
    """Cache a thumbnail made from a generated base colour map for a model that has none."""
    import numpy as np
    if info.thumbnail or not info.ok:
        return info.thumbnail
    out = thumbnail_cache_path(info.path)
    if out is None:
        return None
    a = np.asarray(base_color, dtype=np.float32)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    step = max(1, -(-max(a.shape[0], a.shape[1]) // size))  # ceil: the longer side fits in `size`
    a = a[: size * step: step, : size * step: step, :3]
    try:
        write_small_png(out, (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))
    except OSError:
        return None
    info.thumbnail = out
    return out


class Library:
    """Scans folders for models; what a file holds is cached per file (real path, size, mtime).

    Describing a model opens an ONNX Runtime session to read its metadata (tens of milliseconds
    up to a tenth of a second), so ``scan`` and ``find`` share one cache and a file is only
    described again after it changes.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._cache: dict = {}  # real path -> ((size, mtime_ns), ModelInfo); a changed file replaces its entry
        self.models: list[ModelInfo] = []

    def sources(self, folders) -> list[tuple[Path, bool]]:
        out = []
        for folder in folders or []:
            if folder:
                out.append((Path(os.path.expanduser(str(folder))), False))
        out.append((BUILTIN_DIR, True))
        return out

    def info(self, path, builtin: bool = False, real: str | None = None) -> ModelInfo:
        """``describe(path)``, from the cache while the file's size and mtime are unchanged."""
        real = real or os.path.realpath(path)
        st = os.stat(real)
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            entry = self._cache.get(real)
        if entry is not None and entry[0] == stamp:
            info = entry[1]
            if info.thumbnail is None and info.ok:
                info.thumbnail = _cached_thumbnail(str(path))  # made from a result since it was described
            return info
        info = describe(path, builtin)
        with self._lock:
            self._cache[real] = (stamp, info)
        return info

    def scan(self, folders=(), include_builtin: bool = True) -> list[ModelInfo]:
        models, seen = [], set()
        for folder, builtin in self.sources(folders):
            if builtin and not include_builtin:
                continue
            try:
                files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".onnx" and p.is_file())
            except OSError:
                continue
            for p in files:
                real = os.path.realpath(p)
                if real in seen:
                    continue
                seen.add(real)
                try:
                    models.append(self.info(p, builtin, real))
                except OSError:  # removed while scanning
                    continue
        self.models = models
        return models

    def find(self, name_or_path: str, folders=()) -> ModelInfo | None:
        """A model by file path (any .onnx, in the library or not), library file stem, or metadata name."""
        if not name_or_path:
            return None
        candidate = os.path.expanduser(str(name_or_path))
        if os.path.isfile(candidate):
            real = os.path.realpath(candidate)
            builtin = Path(real).parent == BUILTIN_DIR
            try:
                info = self.info(candidate, builtin, real)
            except OSError:  # removed since isfile()
                return describe(candidate, builtin)
            # The cached entry may have been described through another path to the same file
            # (a library folder, a symlink): answer with the path the caller gave.
            return info if info.path == str(candidate) else dataclasses.replace(info, path=str(candidate))
        for info in self.scan(folders):
            if name_or_path in (info.name, Path(info.path).stem, Path(info.path).name):
                return info
        return None

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


LIBRARY = Library()
