"""Inference off Blender's main thread (bpy-free).

A :class:`Job` runs :meth:`TextureModel.generate` for one or more seeds on a worker thread (ONNX
Runtime releases the GIL, so Blender's UI keeps drawing); the operator polls it from a timer on the
main thread and only there touches Blender data. ``Job.run()`` can also be called directly: that is
the synchronous path used in background mode and from scripts.

One ONNX Runtime session per model is cached (:data:`SESSIONS`) and reused while the file, device
and CUDA folder stay the same.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time

from .core.maps import split_maps  # noqa: F401  (for scripts that split a raw result themselves)

DEVICES = {"AUTO": "auto", "GPU": "cuda", "CPU": "cpu"}


def one_line(ex: BaseException) -> str:
    text = str(ex).strip()
    return text.splitlines()[0] if text else type(ex).__name__


class SessionCache:
    """model path -> TextureModel, one per model; rebuilt when the file or the device settings change."""

    def __init__(self):
        self._lock = threading.Lock()
        self._models: dict = {}

    def get(self, path: str, device: str = "auto", cuda_lib_dir: str | None = None, threads: int | None = None):
        from .core.model import TextureModel
        real = os.path.realpath(path)
        st = os.stat(real)
        key = (st.st_size, st.st_mtime_ns, device, cuda_lib_dir or None, threads)
        with self._lock:
            entry = self._models.get(real)
            if entry is not None and entry[0] == key:
                return entry[1]
        model = TextureModel(real, device=device, cuda_lib_dir=cuda_lib_dir or None, threads=threads)
        with self._lock:
            self._models[real] = (key, model)
        return model

    def __len__(self) -> int:
        return len(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


SESSIONS = SessionCache()


@dataclasses.dataclass
class Task:
    seed: int
    height: int
    width: int


class Job:
    """Generate maps for each task's seed with one model. Thread-safe to poll; cancel() any time."""

    def __init__(self, model_path: str, tasks: list, device: str = "auto", cuda_lib_dir: str | None = None,
                 tile: int | None = None, threads: int | None = None, class_weights=None):
        self.model_path = model_path
        self.class_weights = class_weights  # conditional models: class name, index, blend or weights
        self.tasks = list(tasks)
        self.device_request = device
        self.cuda_lib_dir = cuda_lib_dir
        self.tile = tile
        self.threads = threads
        self.progress = 0.0
        self.results: dict = {}  # seed -> role -> array
        self.raw: dict = {}  # seed -> [C, H, W] float32 as the model painted it
        self.error: str | None = None
        self.cancelled = False
        self.device = None  # "CUDA" / "CPU" as actually used
        self.providers: list = []
        self.fallback_reason = None
        self.channels: list = []
        self.seconds = 0.0
        self.done = threading.Event()
        self._cancel = threading.Event()
        self._thread = None

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> "Job":
        self._thread = threading.Thread(target=self.run, name="texgan-inference", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done.is_set()

    def run(self) -> "Job":
        from .core.format import Cancelled
        from .core.paint import PaintSettings, paint
        t0 = time.perf_counter()
        try:
            model = SESSIONS.get(self.model_path, self.device_request, self.cuda_lib_dir, self.threads)
            self.device = getattr(model, "device", None)
            self.providers = list(getattr(model, "providers", []) or [])
            self.fallback_reason = getattr(model, "fallback_reason", None)
            self.channels = list(model.channels)
            n = max(1, len(self.tasks))
            for i, task in enumerate(self.tasks):
                if self._cancel.is_set():
                    raise Cancelled("cancelled")
                if task.seed in self.raw:
                    continue

                def progress(fraction, i=i):
                    self.progress = min(1.0, (i + float(fraction)) / n)

                painting = paint(model, PaintSettings(task.width, task.height, seed=task.seed, tile=self.tile,
                                                      class_choice=self.class_weights),
                                 progress=progress, cancel=self._cancel.is_set)
                self.raw[task.seed] = painting.raw[0]
                self.results[task.seed] = painting.maps(0)
                self.progress = (i + 1) / n
        except Cancelled:
            self.cancelled = True
        except Exception as ex:  # reported to the user as one line; Blender data is untouched
            self.error = one_line(ex)
        finally:
            self.seconds = time.perf_counter() - t0
            self.done.set()
        return self


# ---------------------------------------------------------------------------------------------
# Which execution providers work here (shown live in the preferences)

_DEVICE_REPORT: dict = {}
_DEVICE_LOCK = threading.Lock()


def device_report() -> dict:
    """The last device check: {'state': 'unchecked'|'checking'|'done', 'line': str, 'gpu_ok': bool|None}."""
    with _DEVICE_LOCK:
        return dict(_DEVICE_REPORT) if _DEVICE_REPORT else {"state": "unchecked", "line": "", "gpu_ok": None}


def _set_report(**values) -> None:
    with _DEVICE_LOCK:
        _DEVICE_REPORT.clear()
        _DEVICE_REPORT.update(values)


def record_run(job: Job) -> None:
    """Update the device line from a real run (the most honest check there is)."""
    if job.device is None:
        return
    gpu_ok = job.device == "CUDA"
    line = f"Last run: {job.device} ({', '.join(job.providers) or 'no providers'})"
    if not gpu_ok and job.fallback_reason:
        line += f"; GPU not used: {job.fallback_reason}"
    _set_report(state="done", line=line, gpu_ok=gpu_ok if job.device_request != "cpu" else None)


def quick_check() -> dict:
    """A cheap first answer (no session): the providers this ONNX Runtime has, and why CUDA cannot run."""
    try:
        import onnxruntime as ort
        from .core.runtime import cuda_unavailable_reason
        available = list(ort.get_available_providers())
        reason = cuda_unavailable_reason()
    except Exception as ex:  # noqa: BLE001
        _set_report(state="done", line=f"ONNX Runtime cannot be imported: {one_line(ex)}", gpu_ok=False)
        return device_report()
    names = ", ".join(p.replace("ExecutionProvider", "") for p in available)
    if reason:
        line = f"ONNX Runtime {ort.__version__} ({names}): GPU unavailable, runs on the CPU: {reason}"
    else:
        line = (f"ONNX Runtime {ort.__version__} ({names}): NVIDIA driver found; "
                "press Check Devices to confirm CUDA works")
    _set_report(state="quick", line=line, gpu_ok=False if reason else None)
    return device_report()


def check_devices(model_path: str | None, cuda_lib_dir: str | None = None) -> dict:
    """Find out which execution providers work here: a real CUDA session when a model is available."""
    _set_report(state="checking", line="Checking execution providers ...", gpu_ok=None)
    try:
        import onnxruntime as ort
        available = list(ort.get_available_providers())
    except Exception as ex:  # noqa: BLE001 - ONNX Runtime missing or broken: say so
        _set_report(state="done", line=f"ONNX Runtime cannot be imported: {one_line(ex)}", gpu_ok=False)
        return device_report()
    version = getattr(ort, "__version__", "?")
    if "CUDAExecutionProvider" not in available:
        _set_report(state="done", gpu_ok=False,
                    line=f"ONNX Runtime {version}: {', '.join(available)}; GPU: this ONNX Runtime build has no CUDA "
                         "provider (CPU build" + (", normal on macOS)" if os.uname().sysname == "Darwin" else ")"))
        return device_report()
    if not model_path:
        _set_report(state="done", gpu_ok=None,
                    line=f"ONNX Runtime {version}: {', '.join(available)} built in; add a model to test the GPU")
        return device_report()
    try:
        from .core.model import TextureModel
        model = TextureModel(model_path, device="cuda", cuda_lib_dir=cuda_lib_dir or None)
        model.generate(32, 32, seed=0)
        gpu_ok = getattr(model, "device", "CPU") == "CUDA"
        line = f"ONNX Runtime {version}: working providers {', '.join(getattr(model, 'providers', []))}"
        if not gpu_ok:
            line += f"; GPU not available: {getattr(model, 'fallback_reason', None) or 'CUDA session failed'}"
        _set_report(state="done", line=line, gpu_ok=gpu_ok)
    except Exception as ex:  # noqa: BLE001
        _set_report(state="done", line=f"ONNX Runtime {version}: GPU check failed: {one_line(ex)}", gpu_ok=False)
    return device_report()


def check_devices_async(model_path: str | None, cuda_lib_dir: str | None = None) -> None:
    threading.Thread(target=check_devices, args=(model_path, cuda_lib_dir), daemon=True,
                     name="texgan-device-check").start()
