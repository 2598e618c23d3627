"""Time to quality: SWD-to-floor ratio of the default tileable config against training wall-clock,
on the embedded bricks material (CPU).

    python bench/time_to_quality.py [--quick] [--out results.json]

One run, trained in segments with gan_core.train.train(..., max_minutes=...) and `resume=True`
(a resumed run equals an uninterrupted one), so the clock is the run's own training seconds
(checkpoint `seconds`: set-up and evaluation are not counted). After each segment the EMA
generator is scored like `texgan eval`: 8 textures of 256 px, gan_core.metrics.evaluate,
swd_ratio = SWD(fakes, exemplar) / SWD(held-out real, exemplar); 1.0 = as close as unseen real
texture, lower is better.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MATERIAL_EXEMPLAR, WORK, load_avg, now, save_json  # noqa: E402


def run(quick: bool = False, log=print, device: str = "cpu") -> dict:
    from gan_core.checkpoint import read_checkpoint
    from gan_core.config import TrainConfig
    from gan_core.train import train
    from texgan.cmd_train import evaluate_source

    marks = [3, 8] if quick else [15, 40, 75]
    out = WORK / f"ttq_{device}"
    shutil.rmtree(out, ignore_errors=True)
    cfg_kw = dict(data=str(MATERIAL_EXEMPLAR), out=str(out), steps=10 ** 7, device=device, seed=0,
                  checkpoint_every=10 ** 9, sample_every=10 ** 9, log_every=10)
    points = []
    trained = 0.0
    wall0 = now()
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
        log(f"ttq: {trained:6.1f}s step {info['step']:5d} swd_ratio {rep['swd_ratio']:.2f} seam {rep['seam_ratio']:.2f}")
    cfg = TrainConfig()
    return {"device": device, "quick": quick, "points": points, "loss": cfg.loss, "batch": cfg.batch,
            "g_widths": list(cfg.g_widths), "wall_s": now() - wall0, "load_avg_end": load_avg()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(WORK / "time_to_quality.json"))
    a = ap.parse_args(argv)
    save_json(Path(a.out), run(a.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
