"""Shared helpers for the benchmarks: machine description, interleaved timing, tiny runs and models.

Every comparison in bench/ is measured side by side in one process: the A and B variants run
alternately (A B A B ...), after one untimed warm-up each, and the medians are compared.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXEMPLARS = ROOT / "gan_core" / "exemplars"
RGB_EXEMPLAR = EXEMPLARS / "planks" / "basecolor.png"     # 3 channels
MATERIAL_EXEMPLAR = EXEMPLARS / "bricks"                  # 5 channels: base colour, height, roughness
WORK = ROOT / "build" / "bench"                           # scratch: runs, models (ignored by git)


def now() -> float:
    return time.perf_counter()


def median(xs) -> float:
    return float(statistics.median(xs))


def interleave(variants: dict, reps: int, warmup: int = 1) -> dict:
    """variants: name -> callable returning seconds (or None: time the call itself).
    Runs warm-ups, then `reps` rounds of every variant in turn (order rotated each round so
    neither goes first every time). Returns name -> list of seconds."""
    names = list(variants)
    for _ in range(warmup):
        for n in names:
            variants[n]()
    out = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            t0 = now()
            got = variants[n]()
            out[n].append(float(got) if isinstance(got, (int, float)) and not isinstance(got, bool) else now() - t0)
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                fl = line.split(":", 1)[1].split()
                return [f for f in fl if f.startswith(("avx", "fma", "amx"))]
    except OSError:
        pass
    return []


def mem_total_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return 0.0


def machine() -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    gpu = None
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = len([ln for ln in subprocess.run(["git", "status", "--short", "--untracked-files=no"], cwd=ROOT,
                                                 capture_output=True, text=True, timeout=10).stdout.splitlines() if ln])
    except Exception:
        commit, dirty = "", None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_model(),
            "cpu_flags": cpu_flags(), "logical_cores": os.cpu_count(), "mem_gb": round(mem_total_gb(), 1),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "onnxruntime": ort.__version__, "ort_providers": ort.get_available_providers(),
            "numpy": np.__version__, "gpu": gpu, "git_commit": commit, "dirty_files": dirty,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def load_avg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return -1.0


def tiny_train(out: Path, data: Path, steps: int = 1, **overrides) -> Path:
    """A real run with the default (tileable) config for a few steps: weights do not matter for speed."""
    from gan_core.config import TrainConfig
    from gan_core.train import train
    cfg = TrainConfig(data=str(data), out=str(out), steps=steps, sample_every=10 ** 9, checkpoint_every=10 ** 9,
                      log_every=10 ** 9, seed=0, device="cpu", **overrides)
    stamp = out / "bench_config.txt"     # a cached run is reused only for the same config (defaults change)
    if (out / "checkpoint.safetensors").exists() and stamp.exists() and stamp.read_text() == repr(cfg):
        return out
    if out.exists():
        shutil.rmtree(out)
    train(cfg, show_progress=False)
    stamp.write_text(repr(cfg))
    return out


def model_for(kind: str, variant: str = "", **overrides) -> tuple[Path, Path]:
    """(run dir, exported .onnx) of the default generator for 'rgb' or 'material' (cached in build/bench);
    `variant` names a copy trained with `overrides` (e.g. "nonoise", g_noise=0)."""
    from export.onnx_export import export_run
    data = RGB_EXEMPLAR if kind == "rgb" else MATERIAL_EXEMPLAR
    name = f"{kind}_{variant}" if variant else kind
    run = tiny_train(WORK / f"run_{name}", data, **overrides)
    onnx_path = WORK / f"{name}.onnx"
    export_run(run, onnx_path, name=f"bench-{name}", force=True)   # always the current exporter's graph
    return run, onnx_path


def save_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
