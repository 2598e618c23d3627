"""texgan inference core: ONNX Runtime session, latent sampling, tiled seamless inference.

Used by the Blender extension, `texgan generate`, `texgan bake` and `texgan eval`. It needs
only numpy and onnxruntime (no bpy, torch, onnx, Pillow or gan_core), so it runs inside
Blender's Python as it is.

Model contract (see docs/onnx-format.md): input `latent` float32 [batch, latent_channels,
h, w] (latent cells), output `texture` float32 [batch, C, h*scale, w*scale] in [0, 1];
everything else is in the model's `texgan.*` metadata_props. Conditional models (metadata
`classes`) take a second input `class_weights` float32 [batch, K]: one row of class weights
per texture (one-hot for one class, other non-negative rows blend classes).

Latent recipe ("texgan-latent/1"), machine-independent and stable across numpy versions
because it only uses the PCG64 bit stream and SeedSequence hashing (both frozen by numpy's
compatibility policy) plus float64 Box-Muller:

  * uniforms(seed, key..., n): PCG64(SeedSequence([seed, *key])).random_raw(n) -> uint64 u;
    U = ((u >> 11) + 0.5) / 2**53, in (0, 1).
  * normals(seed, key..., n): m = ceil(n/2) pairs from uniforms(…, 2m): U1 = U[0::2],
    U2 = U[1::2]; r = sqrt(-2 ln U1); z[0::2] = r cos(2 pi U2), z[1::2] = r sin(2 pi U2);
    first n, cast to float32.
  * local channels (count L): the canvas (h x w cells) is cut into 64 x 64-cell blocks;
    block (by, bx) is normals(seed, 0, by, bx, L*64*64) reshaped [L, 64, 64] (drawn full size
    even where it overhangs the canvas). So any window of the latent can be made on demand.
  * global channels (count G): normals(seed, 1, G), the same value in every cell.
  * periodic channels (count P): phase_p = 2 pi * uniforms(seed, 2, P)[p];
    n = round_half_even(float32(k) * float32((w, h))) for the model's wave vector k = (kx, ky)
    in cycles per cell; value at cell (y, x) = sin(2 pi (frac(n_x x / w) + frac(n_y y / h)) + phase_p).
  * channel order [local | global | periodic]. Texture i of a `count` run uses seed + i.

Sizes that are not a multiple of the model scale: the model paints the next multiple up
(ceil(size / scale) cells), and that seamless image is resampled to the exact size with a
wrap-around Catmull-Rom (Keys a = -0.5) filter, i.e. the whole torus is mapped onto the
smaller torus. The result tiles exactly at any pixel size; the cost is a very slight
softening (< 1 scale step of shrink). Multiples of the scale are not resampled.

Tiled inference: the output is cut into tiles; each tile runs the model on the latent
window it needs plus a wrap-around halo of `receptive_radius_cells` cells and keeps the
centre, which is then exactly what one run over the whole canvas gives (up to float
rounding). Memory: the result array plus one tile's working set.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import sys
from typing import Callable

import numpy as np

from .maps import map_layout

SCHEMA_VERSION = 1
LATENT_RECIPE = "texgan-latent/1"
BLOCK = 64                 # local-noise block side, in latent cells
MAX_SIDE = 16384           # default largest side accepted by generate()
# Default tile side in pixels. On the CPU, 512 keeps ONNX Runtime's working set near 0.6 GB for
# the default generator (1024 px tiles: ~1.8 GB) at ~15% more halo compute; GPUs take bigger tiles.
DEFAULT_TILE = {"CPU": 512, "CUDA": 1024}
INPUT_NAME, OUTPUT_NAME = "latent", "texture"
CLASS_INPUT_NAME = "class_weights"  # second input of conditional models


class ModelError(ValueError):
    """Missing, corrupt or foreign model, or a device that cannot run it (one-line message)."""


class Cancelled(Exception):
    """generate() stopped because cancel() returned True."""


# ----------------------------------------------------------------------------------------
# Metadata
# ----------------------------------------------------------------------------------------

KEY_ORDER = ("schema_version", "name", "channels", "maps", "scale", "value_range", "tileable", "latent",
             "receptive_radius_cells", "input", "classes", "class_input", "output", "precision", "training", "version",
             "exporter_version", "weights_sha256")
JSON_KEYS = ("latent", "channels", "maps", "value_range", "training", "classes")
INT_KEYS = ("schema_version", "scale", "receptive_radius_cells")


def parse_metadata(props: dict[str, str], where: str = "model") -> dict:
    """Raw metadata_props -> dict keyed without the "texgan." prefix, JSON values decoded."""
    if "texgan.schema_version" not in props:
        raise ModelError(f"{where} is an ONNX model but not a texgan generator (no texgan metadata)")
    out: dict = {}
    try:
        for key, value in props.items():
            if not key.startswith("texgan."):
                continue
            k = key[len("texgan."):]
            if k in JSON_KEYS:
                out[k] = json.loads(value)
            elif k in INT_KEYS:
                out[k] = int(value)
            elif k == "tileable":
                out[k] = value.strip().lower() == "true"
            else:
                out[k] = value
    except (ValueError, TypeError) as e:
        raise ModelError(f"{where} has unreadable texgan metadata ({key}: {e})") from None
    if out["schema_version"] > SCHEMA_VERSION:
        raise ModelError(f"{where} uses texgan metadata schema {out['schema_version']}; this texgan reads "
                         f"schema {SCHEMA_VERSION} (update texgan)")
    missing = [k for k in ("latent", "scale", "channels", "receptive_radius_cells") if k not in out]
    if missing:
        raise ModelError(f"{where} lacks texgan metadata: {', '.join('texgan.' + k for k in missing)}")
    lat = out["latent"]
    try:
        counts = (int(lat["local"]), int(lat["global"]), int(lat["periodic"]))
        ok = (sum(counts) == int(lat["channels"]) and len(lat["wave_vectors"]) == counts[2]
              and out["scale"] >= 1 and out["receptive_radius_cells"] >= 0)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ModelError(f"{where} has inconsistent texgan latent metadata")
    if lat.get("sampling", LATENT_RECIPE) != LATENT_RECIPE:
        raise ModelError(f"{where} needs latent recipe {lat.get('sampling')!r}; this texgan knows {LATENT_RECIPE}")
    if "classes" in out or "class_input" in out:
        classes = out.get("classes")
        if (not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes)
                or len(set(classes)) != len(classes)):
            raise ModelError(f"{where} has unreadable texgan metadata (classes: a list of distinct names expected)")
        if out.get("class_input") != CLASS_INPUT_NAME:
            raise ModelError(f"{where} has classes but its class input is {out.get('class_input')!r}, "
                             f"not {CLASS_INPUT_NAME!r}")
    out.setdefault("maps", map_layout(out["channels"]))
    order = {k: i for i, k in enumerate(KEY_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _session_options(optimize: bool = True, threads: int | None = None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    so.log_severity_level = 3  # errors only; provider problems are reported by us
    if threads:
        so.intra_op_num_threads = int(threads)
    return so


def _open_session(path, providers, optimize=True, threads=None):
    import onnxruntime as ort
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError(f"no model file at {path}")
    if os.path.isdir(path):
        raise ModelError(f"{path} is a folder, not an .onnx model")
    try:
        return ort.InferenceSession(path, sess_options=_session_options(optimize, threads), providers=providers)
    except Exception as e:  # ORT raises its own Fail / InvalidProtobuf / InvalidGraph types
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "INVALID_PROTOBUF" in msg or "Protobuf parsing failed" in msg:
            raise ModelError(f"cannot read {path}: not an ONNX model, or the file is corrupt or truncated") from None
        msg = msg.split(" failed:", 1)[-1].strip()
        raise ModelError(f"cannot load {path}: ONNX Runtime rejected it ({msg[:160]})") from None


def _signature(session) -> dict:
    def desc(args):
        return [{"name": a.name, "type": a.type, "shape": [d if isinstance(d, int) else str(d) for d in a.shape]}
                for a in args]
    return {"inputs": desc(session.get_inputs()), "outputs": desc(session.get_outputs())}


def _check_signature(session, meta: dict, where: str) -> None:
    ins, outs = session.get_inputs(), session.get_outputs()
    classes = meta.get("classes") or []
    if classes:
        names = [a.name for a in ins]
        if names != [INPUT_NAME, CLASS_INPUT_NAME] or len(outs) != 1 or outs[0].name != OUTPUT_NAME:
            raise ModelError(f"{where}: a conditional model needs inputs '{INPUT_NAME}', '{CLASS_INPUT_NAME}' "
                             f"and one output '{OUTPUT_NAME}'")
        k = ins[1].shape[1] if len(ins[1].shape) == 2 else None
        if isinstance(k, int) and k != len(classes):
            raise ModelError(f"{where}: {CLASS_INPUT_NAME} has {k} columns, metadata lists {len(classes)} classes")
    elif len(ins) != 1 or ins[0].name != INPUT_NAME or len(outs) != 1 or outs[0].name != OUTPUT_NAME:
        raise ModelError(f"{where}: expected one input '{INPUT_NAME}' and one output '{OUTPUT_NAME}'")
    c = ins[0].shape[1]
    if isinstance(c, int) and c != meta["latent"]["channels"]:
        raise ModelError(f"{where}: input has {c} channels, metadata says {meta['latent']['channels']}")


def read_metadata(path, with_signature: bool = False) -> dict:
    """The texgan metadata of a model file (keys without the "texgan." prefix).

    Raises ModelError (one line) for a missing, corrupt or non-texgan file. With
    with_signature, adds "signature": {"inputs": [...], "outputs": [...]}.
    """
    session = _open_session(path, ["CPUExecutionProvider"], optimize=False)
    props = dict(session.get_modelmeta().custom_metadata_map)
    meta = parse_metadata(props, os.fspath(path))
    _check_signature(session, meta, os.fspath(path))
    if with_signature:
        meta["signature"] = _signature(session)
    return meta


# ----------------------------------------------------------------------------------------
# Classes of conditional models
# ----------------------------------------------------------------------------------------

def class_weights(classes, choice) -> np.ndarray:
    """One row of class weights float32 [K] for a conditional model with class names `classes`.

    choice: a class name, an index (int or a string of digits), a mapping {name or index: weight},
    a string "name:w,name:w" (e.g. "bricks:0.5,moss:0.5"), or a sequence of K weights. Weights must
    be >= 0 with a positive sum; they are scaled to sum to 1. Raises ValueError (one line) that
    lists the classes when the choice names none of them, or when choice is None.
    """
    classes = list(classes or [])
    listing = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
    if not classes:
        raise ValueError("this model is not conditional: it has no classes to choose from")
    K = len(classes)

    def index_of(key) -> int:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
        elif isinstance(key, str) and key.strip() in classes:
            return classes.index(key.strip())
        elif isinstance(key, str) and key.strip().isdigit():
            i = int(key.strip())
        else:
            raise ValueError(f"unknown class {key!r}; the model's classes are {listing}")
        if not 0 <= i < K:
            raise ValueError(f"class index {i} is out of range; the model's classes are {listing}")
        return i

    if choice is None:
        raise ValueError(f"this model is conditional: choose a class ({listing})")
    row = np.zeros(K, dtype=np.float64)
    if isinstance(choice, str) and ":" in choice and choice.strip() not in classes:
        pairs = {}
        for part in choice.split(","):
            key, sep, value = part.rpartition(":")
            if not sep or not key.strip():
                raise ValueError(f"class blend {choice!r} should look like name:weight,name:weight")
            try:
                pairs[key] = float(value)
            except ValueError:
                raise ValueError(f"class weight {value!r} in {choice!r} is not a number") from None
        choice = pairs
    if isinstance(choice, dict):
        for key, value in choice.items():
            row[index_of(key)] += float(value)
    elif isinstance(choice, (str, int, np.integer)) and not isinstance(choice, bool):
        row[index_of(choice)] = 1.0
    else:
        try:
            row = np.asarray(choice, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"cannot read class weights from {choice!r}") from None
        if row.size != K:
            raise ValueError(f"class weights need {K} values (one per class: {listing}), got {row.size}")
    if not np.all(np.isfinite(row)) or (row < 0).any() or row.sum() <= 0:
        raise ValueError(f"class weights must be >= 0 with a positive sum; the model's classes are {listing}")
    return (row / row.sum()).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Latent sampling (recipe in the module docstring and docs/onnx-format.md)
# ----------------------------------------------------------------------------------------

def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 63:
        raise ValueError(f"seed must be a whole number from 0 to 2**63-1, got {seed!r}")
    return int(seed)


def _uniforms(n: int, *key: int) -> np.ndarray:
    bits = np.random.PCG64(np.random.SeedSequence([int(k) for k in key])).random_raw(n)
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2 ** 53)


def _normals(n: int, *key: int) -> np.ndarray:
    m = (n + 1) // 2
    u = _uniforms(2 * m, *key)
    r = np.sqrt(-2.0 * np.log(u[0::2]))
    theta = 2.0 * math.pi * u[1::2]
    z = np.empty(2 * m, dtype=np.float64)
    z[0::2] = r * np.cos(theta)
    z[1::2] = r * np.sin(theta)
    return z[:n].astype(np.float32)


def _snapped_counts(wave_vectors, height_cells: int, width_cells: int) -> np.ndarray:
    """Whole periods across the canvas per wave vector: int [P, 2] as (n_x, n_y)."""
    k = np.asarray(wave_vectors, dtype=np.float32).reshape(-1, 2)
    size = np.array([width_cells, height_cells], dtype=np.float32)
    return np.round(k * size).astype(np.int64)  # numpy rounds half to even, like torch.round


class LatentSampler:
    """The latent of one seed on an h x w-cell canvas; any window, on demand (wraps around)."""

    def __init__(self, metadata: dict, seed: int, height_cells: int, width_cells: int, cache_blocks: int = 32):
        lat = metadata["latent"]
        self.seed = check_seed(seed)
        self.h, self.w = int(height_cells), int(width_cells)
        if self.h < 1 or self.w < 1:
            raise ValueError(f"latent canvas must be at least 1x1 cells, got {self.h}x{self.w}")
        self.L, self.G, self.P = int(lat["local"]), int(lat["global"]), int(lat["periodic"])
        self.channels = self.L + self.G + self.P
        self.global_vec = _normals(self.G, self.seed, 1) if self.G else np.zeros(0, np.float32)
        self.phases = 2.0 * math.pi * _uniforms(self.P, self.seed, 2) if self.P else np.zeros(0)
        self.counts = _snapped_counts(lat["wave_vectors"], self.h, self.w) if self.P else np.zeros((0, 2), np.int64)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._cache_blocks = cache_blocks

    def _block(self, by: int, bx: int) -> np.ndarray:
        key = (by, bx)
        blk = self._cache.get(key)
        if blk is None:
            blk = _normals(self.L * BLOCK * BLOCK, self.seed, 0, by, bx).reshape(self.L, BLOCK, BLOCK)
            if len(self._cache) >= self._cache_blocks:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = blk
        return blk

    def window(self, row0: int, row1: int, col0: int, col1: int) -> np.ndarray:
        """Latent [1, C, row1-row0, col1-col0]; rows/cols may run past the canvas and wrap."""
        ys = np.arange(row0, row1, dtype=np.int64) % self.h
        xs = np.arange(col0, col1, dtype=np.int64) % self.w
        z = np.empty((1, self.channels, ys.size, xs.size), dtype=np.float32)
        if self.L:
            by_all, bx_all = ys // BLOCK, xs // BLOCK
            for by in np.unique(by_all):
                ri = np.nonzero(by_all == by)[0]
                for bx in np.unique(bx_all):
                    ci = np.nonzero(bx_all == bx)[0]
                    blk = self._block(int(by), int(bx))
                    local = z[0, :self.L]  # a view: [L, rows, cols]
                    local[:, ri[:, None], ci[None, :]] = blk[:, ys[ri] % BLOCK][:, :, xs[ci] % BLOCK]
        if self.G:
            z[0, self.L:self.L + self.G] = self.global_vec[:, None, None]
        for p in range(self.P):
            nx, ny = self.counts[p]
            ax = ((nx * xs) % self.w) / self.w
            ay = ((ny * ys) % self.h) / self.h
            z[0, self.L + self.G + p] = np.sin(2.0 * math.pi * (ay[:, None] + ax[None, :]) + self.phases[p])
        return z


def sample_latent(metadata: dict, seed: int, height_cells: int, width_cells: int) -> np.ndarray:
    """The whole latent [1, C, height_cells, width_cells] float32 of one seed (recipe texgan-latent/1)."""
    return LatentSampler(metadata, seed, height_cells, width_cells).window(0, height_cells, 0, width_cells)


# ----------------------------------------------------------------------------------------
# Wrap-around resampling for sizes that are not a multiple of the scale
# ----------------------------------------------------------------------------------------

def _keys_cubic(t: np.ndarray) -> np.ndarray:
    """Weights [N, 4] of taps at offsets -1, 0, 1, 2 for fractional positions t in [0, 1)."""
    a = -0.5
    d = np.stack([1 + t, t, 1 - t, 2 - t], axis=1)
    w = np.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                 np.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, 0.0))
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def _resample_table(n_out: int, n_src: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Unwrapped source taps [n_out, 4] and weights, or None when n_out == n_src (identity)."""
    if n_out == n_src:
        return None
    u = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_src / n_out) - 0.5
    base = np.floor(u)
    taps = base[:, None].astype(np.int64) + np.arange(-1, 3, dtype=np.int64)[None, :]
    return taps, _keys_cubic(u - base)


def _apply_table(src: np.ndarray, table, start: int, axis: int) -> np.ndarray:
    """Resample src [..] along axis (1 = rows, 2 = cols of [C, H, W]); taps relative to start."""
    taps, weights = table
    idx = taps - start
    if axis == 1:
        return np.einsum("chkw,hk->chw", src[:, idx, :], weights, optimize=True)
    return np.einsum("chwk,wk->chw", src[:, :, idx], weights, optimize=True)


# ----------------------------------------------------------------------------------------
# Devices
# ----------------------------------------------------------------------------------------

def ort_packages_clash(installed=None) -> str | None:
    """onnxruntime and onnxruntime-gpu share one import name; installed side by side, whichever was
    installed last wins and CUDA can silently disappear. Say so instead of falling back quietly."""
    if installed is None:
        from importlib import metadata
        installed = set()
        for name in ("onnxruntime", "onnxruntime-gpu"):
            try:
                metadata.distribution(name)
                installed.add(name)
            except metadata.PackageNotFoundError:
                pass
    if {"onnxruntime", "onnxruntime-gpu"} <= set(installed):
        return ("both onnxruntime and onnxruntime-gpu are installed and clash; run "
                "'pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu'")
    return None


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be tried here, or None when it is worth trying."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    clash = ort_packages_clash()
    if clash:
        return clash
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA support (install onnxruntime-gpu)"
    if sys.platform == "darwin":
        return "CUDA does not exist on macOS"
    lib = "nvcuda.dll" if os.name == "nt" else "libcuda.so.1"
    try:
        ctypes.CDLL(lib)
    except OSError:
        return f"no NVIDIA driver found ({lib} cannot be loaded)"
    return None


def _quantize(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "u":
        top = float(np.iinfo(dtype).max)
        return np.rint(np.clip(x, 0.0, 1.0) * top).astype(dtype)
    return np.clip(x, 0.0, 1.0).astype(dtype, copy=False)


def _tile_starts(n: int, t: int, align: int) -> list[int]:
    """Tile starts covering [0, n) with tiles of size t (all the same size; the last is shifted back)."""
    if n <= t:
        return [0]
    starts = list(range(0, n - t, t))
    last = ((n - t) // align) * align
    starts.append(last)
    return starts


class TextureModel:
    """One ONNX Runtime session of a texgan generator.

    device: "auto" (CUDA when it works, else CPU; the reason is in fallback_reason), "cuda"
    (ModelError when CUDA does not run), or "cpu". After creation `providers` holds the
    session's actual providers and `device` is "CUDA" or "CPU".
    """

    def __init__(self, path, device: str = "auto", cuda_lib_dir: str | None = None, threads: int | None = None):
        import onnxruntime as ort
        device = (device or "auto").lower()
        if device not in ("auto", "cuda", "cpu"):
            raise ModelError(f"unknown device {device!r}: use auto, cuda or cpu")
        self.path = os.fspath(path)
        self.fallback_reason: str | None = None
        want_cuda = device in ("auto", "cuda")
        if want_cuda:
            reason = cuda_unavailable_reason()
            if reason is not None:
                if device == "cuda":
                    raise ModelError(f"CUDA was requested but {reason}; use --device cpu or auto")
                self.fallback_reason, want_cuda = reason, False
        if want_cuda and hasattr(ort, "preload_dlls"):
            try:  # CUDA/cuDNN from the nvidia-* wheels or cuda_lib_dir; harmless if absent
                ort.preload_dlls(directory=cuda_lib_dir) if cuda_lib_dir else ort.preload_dlls()
            except Exception:
                pass
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
        self.session = _open_session(self.path, providers, optimize=True, threads=threads)
        self.providers = list(self.session.get_providers())
        if want_cuda and self.providers[0] != "CUDAExecutionProvider":
            reason = ("ONNX Runtime could not start its CUDA provider (CUDA 13 / cuDNN 9 libraries missing "
                      "or no usable GPU)")
            if device == "cuda":
                raise ModelError(f"CUDA was requested but {reason}; use --device cpu or auto")
            self.fallback_reason = reason
        self.device = "CUDA" if self.providers[0] == "CUDAExecutionProvider" else "CPU"
        self.metadata = parse_metadata(dict(self.session.get_modelmeta().custom_metadata_map), self.path)
        _check_signature(self.session, self.metadata, self.path)
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
        """The class weight row [K] for `choice` (see class_weights()); None for unconditional models,
        which refuse any choice other than None."""
        if not self.classes:
            if choice is not None:
                raise ValueError(f"model '{self.name}' is not conditional: it has no classes to choose from")
            return None
        return class_weights(self.classes, choice)

    def run_latent(self, z: np.ndarray, class_row: np.ndarray | None = None) -> np.ndarray:
        """Raw model call: latent [B, C, h, w] float32 -> [B, out_C, h*scale, w*scale] in [0, 1].
        Conditional models also need class_row: weights [K] (the same for every batch entry) or [B, K]."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        feeds = {INPUT_NAME: z}
        if self.classes:
            if class_row is None:
                raise ValueError(f"model '{self.name}' is conditional: run_latent needs class weights")
            row = np.asarray(class_row, dtype=np.float32)
            feeds[CLASS_INPUT_NAME] = np.ascontiguousarray(
                np.broadcast_to(row, (z.shape[0], len(self.classes))) if row.ndim == 1 else row)
        return self.session.run([OUTPUT_NAME], feeds)[0]

    def check_size(self, height, width, max_side: int = MAX_SIDE) -> tuple[int, int]:
        for name, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"{name} must be a whole number of pixels, got {v!r}")
            if v < 1:
                raise ValueError(f"{name} must be at least 1 pixel, got {v}")
            if v > max_side:
                raise ValueError(f"{name} {v} is larger than the limit of {max_side} pixels per side")
        return int(height), int(width)

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
        tile runs in one go.
        progress(fraction) is called after each tile; cancel() is polled before each tile and
        raises Cancelled when it returns True.
        """
        H, W = self.check_size(height, width, max_side)
        class_row = self.class_weights(class_weights)
        seed = check_seed(seed)
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"count must be a whole number >= 1, got {count!r}")
        check_seed(seed + count - 1)
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.uint8), np.dtype(np.uint16)):
            raise ValueError(f"dtype must be float32, float16, uint8 or uint16, got {dtype}")
        s, C = self.scale, len(self.channels)
        tile_px = DEFAULT_TILE[self.device] if tile is None else int(tile)
        if tile_px < 1:
            raise ValueError(f"tile must be at least 1 pixel, got {tile}")
        tile_px = max(s, -(-tile_px // s) * s)
        lh, lw = -(-H // s), -(-W // s)
        Hs, Ws = lh * s, lw * s
        ty, tx = _resample_table(H, Hs), _resample_table(W, Ws)
        out = np.empty((count, H, W, C), dtype=dtype)

        def check_cancel():
            if cancel is not None and cancel():
                raise Cancelled("generation cancelled")

        if H <= tile_px and W <= tile_px:  # one run over the whole canvas (circular padding wraps)
            per_run = max(1, min(count, 16, (tile_px * tile_px) // (Hs * Ws)))
            for i0 in range(0, count, per_run):
                check_cancel()
                n = min(per_run, count - i0)
                z = np.concatenate([sample_latent(self.metadata, seed + i, lh, lw) for i in range(i0, i0 + n)])
                y = self.run_latent(z, class_row)
                for j in range(n):
                    img = y[j]
                    if ty is not None:
                        img = _apply_table(img, (ty[0] % Hs, ty[1]), 0, axis=1)
                    if tx is not None:
                        img = _apply_table(img, (tx[0] % Ws, tx[1]), 0, axis=2)
                    out[i0 + j] = _quantize(img, dtype).transpose(1, 2, 0)
                if progress is not None:
                    progress((i0 + n) / count)
            return out.transpose(0, 3, 1, 2)

        rows = _tile_starts(H, tile_px, s if ty is None else 1)
        cols = _tile_starts(W, tile_px, s if tx is None else 1)
        total, done = count * len(rows) * len(cols), 0
        r = self.radius
        for i in range(count):
            sampler = LatentSampler(self.metadata, seed + i, lh, lw)
            for oy in rows:
                oy1 = min(H, oy + tile_px)
                sy0, sy1 = (oy, oy1) if ty is None else (int(ty[0][oy:oy1].min()), int(ty[0][oy:oy1].max()) + 1)
                for ox in cols:
                    check_cancel()
                    ox1 = min(W, ox + tile_px)
                    sx0, sx1 = (ox, ox1) if tx is None else (int(tx[0][ox:ox1].min()), int(tx[0][ox:ox1].max()) + 1)
                    cy0, cy1 = sy0 // s - r, -(-sy1 // s) + r
                    cx0, cx1 = sx0 // s - r, -(-sx1 // s) + r
                    y = self.run_latent(sampler.window(cy0, cy1, cx0, cx1), class_row)[0]
                    py0, px0 = cy0 * s, cx0 * s  # source pixel (unwrapped) at y[:, 0, 0]
                    if ty is None:
                        y = y[:, sy0 - py0:sy1 - py0]
                    else:
                        y = _apply_table(y, (ty[0][oy:oy1], ty[1][oy:oy1]), py0, axis=1)
                    if tx is None:
                        y = y[:, :, sx0 - px0:sx1 - px0]
                    else:
                        y = _apply_table(y, (tx[0][ox:ox1], tx[1][ox:ox1]), px0, axis=2)
                    out[i, oy:oy1, ox:ox1] = _quantize(y, dtype).transpose(1, 2, 0)
                    done += 1
                    if progress is not None:
                        progress(done / total)
        return out.transpose(0, 3, 1, 2)
