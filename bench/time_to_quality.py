"""Time to quality: SWD-to-floor ratio of the default tileable config against training wall-clock,
on the embedded bricks material (CPU), with bf16 autocast (the default `amp` on CPUs that compute
bf16 natively) and in float32 (`--no-amp`), side by side.

    python bench/time_to_quality.py [--quick] [--out results.json]

The two runs train at the same time, one process and one thread each (this is a 2-core machine),
so both see the same conditions. Each run is trained in segments with gan_core.train.train(...,
max_minutes=...) and `resume=True` (a resumed run equals an uninterrupted one), so the clock is
the run's own training seconds (checkpoint `seconds`: set-up and evaluation are not counted).
After each segment the EMA generator is scored like `texgan eval`: 8 textures of 256 px,
gan_core.metrics.evaluate, swd_ratio = SWD(fakes, exemplar) / SWD(held-out real, exemplar);
1.0 = as close as unseen real texture, lower is better.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MATERIAL_EXEMPLAR, ROOT, WORK, load_avg, now, save_json  # noqa: E402

VARIANTS = {"bf16": True, "fp32": False}   # name -> TrainConfig.amp


def curve(variant: str, quick: bool, device: str = "cpu") -> dict:
    """One run of the default config, scored after each segment."""
    import torch
    from gan_core.checkpoint import read_checkpoint
    from gan_core.config import TrainConfig
    from gan_core.train import autocast_dtype, train
    from texgan.cmd_train import evaluate_source

    marks = [3, 8] if quick else [30, 60, 120, 240, 480]
    out = WORK / f"ttq_{device}_{variant}"
    shutil.rmtree(out, ignore_errors=True)
    cfg_kw = dict(data=str(MATERIAL_EXEMPLAR), out=str(out), steps=10 ** 7, device=device, seed=0,
                  amp=VARIANTS[variant], checkpoint_every=10 ** 9, sample_every=10 ** 9, log_every=10)
    points = []
    trained = 0.0
    for i, mark in enumerate(marks):
        budget = max(mark - trained, 0.5)
        train(TrainConfig(max_minutes=budget / 60.0, resume=i > 0, **cfg_kw), show_progress=False)
        _, info = read_checkpoint(out)
        trained = float(info["seconds"])
        t0 = now()
        rep = evaluate_source(str(out), str(MATERIAL_EXEMPLAR), size=256, count=8, seed=0)
        points.append({"seconds": trained, "step": int(info["step"]), "swd_ratio": rep["swd_ratio"],
                       "swd": rep["swd"], "swd_floor": rep["swd_floor"], "seam_ratio": rep["seam_ratio"],
                       "diversity": rep["diversity"], "diversity_real": rep["diversity_real"],
                       "eval_s": now() - t0})
    dtype = autocast_dtype(torch.device(device)) if VARIANTS[variant] else None
    return {"variant": variant, "amp": VARIANTS[variant], "autocast": str(dtype).replace("torch.", "") if dtype else "float32",
            "threads": torch.get_num_threads(), "points": points}


def run(quick: bool = False, log=print, device: str = "cpu") -> dict:
    """Both variants at once, one single-threaded child process each."""
    from gan_core.config import TrainConfig
    wall0 = now()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = {}
    for v in VARIANTS:
        out = WORK / f"ttq_{v}.json"
        out.unlink(missing_ok=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", v, "--out", str(out)] + (["--quick"] if quick else [])
        procs[v] = (subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True), out)
    curves = {}
    for v, (p, out) in procs.items():
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"time_to_quality {v}: " + (err.strip().splitlines() or ["?"])[-1])
        curves[v] = json.loads(out.read_text())
        for pt in curves[v]["points"]:
            log(f"ttq {v}: {pt['seconds']:6.1f}s step {pt['step']:5d} swd_ratio {pt['swd_ratio']:.2f} seam {pt['seam_ratio']:.2f}")
    cfg = TrainConfig().validate()
    return {"device": device, "quick": quick, "curves": curves, "loss": cfg.loss, "batch": cfg.batch,
            "g_widths": list(cfg.g_widths), "wall_s": now() - wall0, "load_avg_end": load_avg()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(WORK / "time_to_quality.json"))
    a = ap.parse_args(argv)
    save_json(Path(a.out), curve(a.child, a.quick) if a.child else run(a.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
