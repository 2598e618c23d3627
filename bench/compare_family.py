"""Compare every GAN objective and option on the same short budget -> docs/gan-family.md.

    OMP_NUM_THREADS=1 python bench/compare_family.py --seconds 40 --out-dir /tmp/family

Each row trains one configuration from scratch for the same wall-clock budget on each
exemplar (the embedded bricks material and moss), then scores the EMA generator with
gan_core.metrics.evaluate: SWD ratio to the real-vs-real floor (1.0 = as close as unseen real
texture; lower is better), seam ratio (1.0 = seamless), diversity between seeds (vs the
exemplar's own), and training images/s. All rows share one small model so they fit a CPU
budget; the numbers rank the options at equal time, they are not converged quality.
Results are cached per run in --out-dir (results.json), so an interrupted bench continues.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from gan_core.config import TrainConfig  # noqa: E402
from gan_core.data import load_exemplars  # noqa: E402
from gan_core.metrics import evaluate  # noqa: E402
from gan_core.sample import generate, load_generator  # noqa: E402
from gan_core.train import train  # noqa: E402

EXEMPLARS = ROOT / "gan_core" / "exemplars"
TARGETS = ["bricks", "moss"]
BASE = dict(size=64, batch=8, g_widths=(64, 64, 32, 16), d_widths=(32, 64, 64), local_channels=8, global_channels=8,
            periodic_channels=0, ema_half_life_steps=50.0, sample_every=10**9, checkpoint_every=10**9, log_every=5)

# name -> (flags as TrainConfig fields, what it is)
ROWS: dict[str, tuple[dict, str]] = {
    "wgan-gp (default)": ({}, "gradient penalty 10, Adam 1e-4 (0, 0.9), 5 critic steps, spectral-norm D, EMA"),
    "nonsat + R1": (dict(loss="nonsat"), "non-saturating loss, spectral-norm D, lazy R1, EMA"),
    "nonsat, no R1": (dict(loss="nonsat", r1_gamma=0.0), "without the R1 penalty"),
    "minimax": (dict(loss="minimax"), "Goodfellow's original log(1 - D(G(z)))"),
    "hinge + SN": (dict(loss="hinge"), "Miyato et al. hinge with spectral norm"),
    "wgan (clip)": (dict(loss="wgan"), "weight clipping 0.01, RMSprop 5e-5, 5 critic steps, no SN"),
    "label smoothing 0.1": (dict(loss="nonsat", label_smoothing=0.1), "nonsat + one-sided smoothing, real label 0.9"),
    "feature matching 1.0": (dict(feature_matching=1.0), "G also matches D's mean features"),
    "minibatch std": (dict(minibatch_std=True), "D sees the batch's feature std"),
    "no EMA": (dict(ema_half_life_steps=0.0), "sample the raw generator"),
    "periodic channels 4": (dict(periodic_channels=4), "PSGAN periodic latent channels"),
    "progressive 16->64": (dict(progressive=True, progressive_start=16), "16, 32, 64 px; a third of the default row's steps each, half faded in"),
    "dcgan (64x64)": (dict(arch="dcgan", dcgan_base=16), "paper architecture (base width 16), not tileable"),
    "2 processes (gloo)": (dict(nproc=2), "multi-process data parallel, global batch 8 split over 2 ranks"),
    "conditional (2 classes)": (dict(conditional=True), "one model for bricks and moss, scored per class"),
}


def class_folder(out_dir: Path) -> Path:
    root = out_dir / "classes"
    for name in TARGETS:
        (root / name).mkdir(parents=True, exist_ok=True)
        for f in (EXEMPLARS / name).glob("*.png"):
            shutil.copy(f, root / name / f.name)
    return root


def images_per_s(run: Path) -> float:
    with (run / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    rows = rows[1:] or rows   # the first window includes start-up
    vals = [float(r["images_per_s"]) for r in rows]
    return sum(vals) / len(vals) if vals else float("nan")


def score(run: Path, target: str, class_index: int | None, seed: int) -> dict:
    G, info = load_generator(run)
    size = 64 if info.get("arch") == "dcgan" else 128
    if class_index is None:
        fakes = generate(G, size, size, count=8, seed=seed)
    else:
        z = G.sample_latent(8, size // G.scale, size // G.scale, torch.Generator().manual_seed(seed))
        with torch.no_grad():
            fakes = G(z, torch.full((8,), class_index))
    real = (load_exemplars(EXEMPLARS / target).images[0] + 1) / 2
    r = evaluate((fakes.float() + 1) / 2, real, crop=32, n_crops=128, seed=seed)
    return {k: r[k] for k in ("swd", "swd_floor", "swd_ratio", "seam_ratio", "diversity", "diversity_real")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="training budget per run (default 40)")
    ap.add_argument("--out-dir", default="/tmp/texgan-family", help="runs and results.json (cache)")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "gan-family.md"))
    ap.add_argument("--only", nargs="*", help="row names to (re)run")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "results.json"
    results = json.loads(cache.read_text()) if cache.exists() else {}
    for name, (flags, _) in ROWS.items():
        if args.only and name not in args.only:
            continue
        targets = ["both"] if flags.get("conditional") else TARGETS
        for target in targets:
            key = f"{name} | {target}"
            if key in results and not args.only:
                continue
            run = out / "runs" / key.replace(" ", "_").replace("|", "").replace("/", "-").replace(">", "")
            shutil.rmtree(run, ignore_errors=True)
            data = class_folder(out) if target == "both" else EXEMPLARS / target
            cfg = TrainConfig(**{**BASE, **flags, "data": str(data), "out": str(run), "steps": 10**7,
                                 "max_minutes": args.seconds / 60, "seed": args.seed})
            if cfg.progressive:   # three equal stages over the steps the default row made in the same time
                ref = results.get(f"wgan-gp (default) | {TARGETS[0] if target == 'both' else target}", {})
                cfg.progressive_stage_steps = max(1, int(ref.get("steps", 300)) // 3)
            t0 = time.time()
            try:
                res = train(cfg, show_progress=False)
                ips = images_per_s(run)
                scored = ({t: score(run, t, i, args.seed) for i, t in enumerate(TARGETS)} if target == "both"
                          else {target: score(run, target, None, args.seed)})
                for t, s in scored.items():
                    results[f"{name} | {t}"] = {**s, "steps": res.step, "images_per_s": ips, "seconds": round(time.time() - t0, 1)}
            except Exception as e:  # a diverged option is a result too
                for t in (TARGETS if target == "both" else [target]):
                    results[f"{name} | {t}"] = {"error": str(e).splitlines()[0]}
            cache.write_text(json.dumps(results, indent=1))
            print(key, json.dumps({k: v for k, v in results.get(f"{name} | {TARGETS[0] if target == 'both' else target}", {}).items()
                                   if k in ("swd_ratio", "seam_ratio", "diversity", "steps", "images_per_s", "error")}), flush=True)
    write_doc(Path(args.doc), results, args)
    return 0


def fmt(v, nd=2):
    return "—" if v is None else f"{v:.{nd}f}"


def write_doc(path: Path, results: dict, args) -> None:
    lines = []
    head = "| option | what it is | " + " | ".join(f"{t}: SWD ratio | seam | diversity (real) | steps | img/s" for t in TARGETS) + " |"
    lines += [head, "|" + "---|" * (2 + 5 * len(TARGETS))]
    for name, (_, what) in ROWS.items():
        cells = [name, what]
        for t in TARGETS:
            r = results.get(f"{name} | {t}")
            if r is None:
                cells += ["not run"] + [""] * 4
            elif "error" in r:
                cells += [f"failed: {r['error'][:60]}"] + [""] * 4
            else:
                cells += [fmt(r["swd_ratio"]), fmt(r["seam_ratio"]), f"{fmt(r['diversity'], 3)} ({fmt(r['diversity_real'], 3)})",
                          str(r["steps"]), fmt(r["images_per_s"], 1)]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    machine = f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, {platform.processor() or platform.system()}"
    text = path.read_text() if path.exists() else ""
    start, end = "<!-- compare_family:begin -->", "<!-- compare_family:end -->"
    block = (f"{start}\nMeasured with `OMP_NUM_THREADS=1 python bench/compare_family.py --seconds {args.seconds:g}` "
             f"({time.strftime('%Y-%m-%d')}; {machine}; seed {args.seed}). Budget: {args.seconds:g} s of training per row and "
             f"exemplar, model `{BASE['g_widths']}`/`{BASE['d_widths']}` widths, batch {BASE['batch']}, crop {BASE['size']} px; "
             "scored on 8 samples (128 px; DCGAN 64 px) with 32 px crops.\n\n" + table + f"\n{end}")
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text + "\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
