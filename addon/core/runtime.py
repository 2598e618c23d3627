"""ONNX Runtime: sessions, devices, and the onnxruntime / onnxruntime-gpu package clash."""
from __future__ import annotations

import ctypes
import os
import sys

from .format import ModelError


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


CUDA_START_FAILED = ("ONNX Runtime could not start its CUDA provider (CUDA 13 / cuDNN 9 libraries missing "
                     "or no usable GPU)")


def open_on_device(path: str, device: str = "auto", cuda_lib_dir: str | None = None, threads: int | None = None):
    """(session, device "CUDA"|"CPU", fallback_reason) for a model file.

    device: "auto" (CUDA when it works, else CPU, with the reason), "cuda" (ModelError when CUDA
    does not run; never a silent fallback) or "cpu".
    """
    import onnxruntime as ort
    device = (device or "auto").lower()
    if device not in ("auto", "cuda", "cpu"):
        raise ModelError(f"unknown device {device!r}: use auto, cuda or cpu")
    fallback = None
    want_cuda = device in ("auto", "cuda")
    if want_cuda:
        reason = cuda_unavailable_reason()
        if reason is not None:
            if device == "cuda":
                raise ModelError(f"CUDA was requested but {reason}; use --device cpu or auto")
            fallback, want_cuda = reason, False
    if want_cuda and hasattr(ort, "preload_dlls"):
        try:  # CUDA/cuDNN from the nvidia-* wheels or cuda_lib_dir; harmless if absent
            ort.preload_dlls(directory=cuda_lib_dir) if cuda_lib_dir else ort.preload_dlls()
        except Exception:
            pass
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
    session = _open_session(path, providers, optimize=True, threads=threads)
    used = session.get_providers()[0]
    if want_cuda and used != "CUDAExecutionProvider":
        if device == "cuda":
            raise ModelError(f"CUDA was requested but {CUDA_START_FAILED}; use --device cpu or auto")
        fallback = CUDA_START_FAILED
    return session, ("CUDA" if used == "CUDAExecutionProvider" else "CPU"), fallback


def physical_memory_bytes() -> int | None:
    """This machine's RAM, where the OS says (POSIX); None elsewhere."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None
