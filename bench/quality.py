"""The quality suite: train on every kind of texture users bring, score it, show it.

    .venv/bin/python bench/quality.py                  # full suite: 8 minutes per exemplar
    .venv/bin/python bench/quality.py --quick          # smoke test: two exemplars, a few steps
    .venv/bin/python bench/quality.py --only pavement bricks_large --minutes 4 --set loss=hinge
    .venv/bin/python bench/quality.py --jobs 2 --against d_padding=valid   # defaults and a variant, side by side

Each exemplar trains with texgan's defaults (plus any --set overrides) in segments that end
at 1, 2, 4 and 8 minutes (of --minutes 8; the same fractions of other budgets); after each
segment the EMA generator paints SCORE_TEXTURES (16) textures of 256 px and `gan_core.metrics.evaluate` scores
them against the exemplar on 128 px crops: SWD ratio per Laplacian level (fine -> coarse),
its worst level, seam ratio and diversity. Writes, under --out (default bench/out/quality):
    exemplars/<name>.png     the suite's exemplars (procedural ones from make_exemplars.py,
                             photos that scikit-image ships)
    runs/<name>/             the training runs
    sheets/<name>.png        exemplar | a sample after each segment | its 2x2 tiling; below the samples,
                             SHEET_MORE more of the last segment's textures (each has its own global latent)
    rows/<name>.json         that exemplar's scores, written as soon as it ends, and the exemplar's own
                             score as if generated (how strict the target is on it)
    results.json             every score, with the machine and a reference-loop speed
and with --report, docs/quality.md and docs/quality/*.png (the contact sheets).
--against KEY=VALUE... also trains every exemplar with those overrides (on top of --set), written under
OUT/against; each pair is submitted together, so with --jobs 2 the two train at the same time on the same
machine and share one reference-loop measurement (compare: bench/quality_report.py --compare OUT OUT/against).

Runs are processes of one thread each, --jobs at a time (default 1: the whole machine per
exemplar). The reference-loop speed (bench/common.py) is measured in the same run, so figures
from machines of different speed can be compared.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "gan_core" / "exemplars"))

PHOTOS = {   # scikit-image's bundled texture photographs (greyscale, 512 px)
    "gravel": ("fine stochastic", "gravel"),
    "grass": ("organic", "grass"),
    "brick_photo": ("regular", "brick"),
}
KINDS = {
    "sand": "fine stochastic", "cobbles": "cellular", "cobbles_large": "cellular, large",
    "pavement": "cellular, large", "cracked_earth": "cellular, large", "bricks": "regular",
    "bricks_large": "regular, large", "tiles": "regular", "planks": "directional",
    "woodgrain": "directional", "moss": "organic", "foliage": "organic, large",
}
QUICK = ["cobbles", "gravel"]
SEGMENTS = (1, 1, 2, 4)          # minutes of each segment at an 8-minute budget
# Each texture has its own global latent, which sets e.g. its contrast: with 4 textures one draw
# moved a trained model's worst level from 1.3 to 9.6 (docs/quality-history.md, tenth session).
SCORE_TEXTURES = 16
# One texture can mislead: on bricks_large the sheet's texture ran vertically where most of the 16 ran
# horizontally (docs/quality-history.md, seventeenth session). The sheet's second row shows this many more.
SHEET_MORE = 4
PIXEL_KEYS = ("samples", "more")   # a row's images: for its contact sheet, never written to the JSON


def write_exemplars(folder: Path) -> dict[str, Path]:
    """The suite's exemplar images (RGB PNG), made once; name -> path."""
    import make_exemplars as mk
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (seed, maker, kw) in mk.SUITE.items():
        p = folder / f"{name}.png"
        if not p.exists():
            color = maker(np.random.default_rng(seed), **kw)[0]
            Image.fromarray(np.round(np.clip(color, 0, 1) * 255).astype(np.uint8), "RGB").save(p)
        paths[name] = p
    try:
        import skimage.data
    except ImportError:   # the photos need scikit-image (the bench extra); say so, run the rest
        print("bench/quality: scikit-image is not installed; the photo exemplars are skipped", file=sys.stderr)
        return paths
    for name, (_, attr) in PHOTOS.items():
        p = folder / f"{name}.png"
        if not p.exists():
            Image.fromarray(getattr(skimage.data, attr)()).save(p)
        paths[name] = p
    return paths


def reference_speed(seconds: float = 10.0) -> dict:
    """Images/s of the plain PyTorch DCGAN loop (bench/train_speed.py) in float32 on this machine,
    measured now: the yardstick that makes minutes on one machine comparable with another's."""
    import torch
    from train_speed import BATCH, ReferenceDCGAN, crop_bank
    ref = ReferenceDCGAN(crop_bank(256, torch.Generator().manual_seed(0)))
    ref.steps(3)
    steps, spent = 0, 0.0
    while spent < seconds:
        spent += ref.steps(5)
        steps += 5
    from common import cpu_model
    from gan_core.train import autocast_dtype
    # The CPU and whether texgan trains in bf16 on it: a machine without native bf16 trains in float32, slower
    # than the reference loop alone says (the loop is float32 either way).
    precision = {torch.bfloat16: "bf16 autocast"}.get(autocast_dtype(torch.device("cpu")), "float32")
    return {"loop": "pytorch/examples DCGAN, 64 px, float32", "images_per_s": round(steps * BATCH / spent, 1),
            "threads": torch.get_num_threads(), "cpu": cpu_model(), "texgan_precision": precision}


def parse_sets(pairs: list[str]) -> dict:
    """--set key=value (values parsed as JSON where they can be: numbers, lists, true/false)."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value
    return out


def score(run: Path, exemplar: Path, seed: int = 0) -> tuple[dict, np.ndarray]:
    """evaluate() of SCORE_TEXTURES textures of 256 px from the run's EMA generator, and the first 1 + SHEET_MORE
    of them ([N, 256, 256, 3] uint8)."""
    import torch
    from gan_core.data import load_exemplars
    from gan_core.metrics import auto_crop, evaluate
    from gan_core.sample import generate, load_generator
    real = (load_exemplars(exemplar).images[0] + 1) / 2
    G, _ = load_generator(run)
    fakes = (generate(G, 256, 256, count=SCORE_TEXTURES, seed=seed) + 1) / 2
    report = evaluate(fakes, real, crop=auto_crop(*real.shape[1:]), seed=seed)
    imgs = (fakes[:1 + SHEET_MORE].clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    del torch
    return report, imgs


def exemplar_itself(exemplar: Path, tileable: bool, seed: int = 0) -> dict:
    """The exemplar scored as score() scores a run: SCORE_TEXTURES textures of 256 px cut from it at random
    (across its edges when it tiles). What a generator that painted the exemplar itself would get, which shows
    how strict the target is on it: where the exemplar's two halves happen to be much alike, the floor is low
    and the exemplar itself scores well above 1."""
    import torch
    from gan_core.data import load_exemplars
    from gan_core.metrics import auto_crop, evaluate, random_crops
    real = (load_exemplars(exemplar).images[0] + 1) / 2
    size = min(256, *real.shape[1:])
    textures = random_crops(real, SCORE_TEXTURES, size, torch.Generator().manual_seed(seed), wrap=tileable)
    report = evaluate(textures, real, crop=auto_crop(*real.shape[1:]), seed=seed)
    return {"levels": report["swd_ratio_levels"], "worst": report["swd_ratio_worst"]}


def run_one(name: str, exemplar: str, out: str, minutes: float, overrides: dict, quick: bool, steps: int = 0) -> dict:
    """Train one exemplar in segments, scoring after each; returns its results row."""
    import torch
    torch.set_num_threads(int(os.environ.get("TEXGAN_BENCH_THREADS", "0")) or torch.get_num_threads())
    from gan_core.config import build_config
    from gan_core.train import train
    run = Path(out) / "runs" / name
    if run.exists():
        import shutil
        shutil.rmtree(run)
    points, samples, trained = [], [], 0.0
    for i, seg in enumerate(SEGMENTS):
        values = {"data": exemplar, "out": str(run), "resume": i > 0, "steps": 10 ** 7,
                  "max_minutes": seg * minutes / 8, "sample_every": 10 ** 7, "checkpoint_every": 10 ** 7, **overrides}
        if steps:   # a step budget instead: comparable on a machine shared with other work
            values.update(steps=round(steps * sum(SEGMENTS[:i + 1]) / 8), max_minutes=0)
        if quick:
            values.update(steps=(i + 1) * 3, max_minutes=0, size=32)
        cfg = build_config(values)
        result = train(cfg, show_progress=False)
        trained += seg * minutes / 8
        report, imgs = score(run, Path(exemplar))
        points.append({"minutes": round(trained, 3) if not steps else None, "step": result.step, "seconds": round(result.seconds, 1),
                       **{k: report[k] for k in ("swd_ratio", "swd_ratio_levels", "swd_ratio_worst", "color_ratio",
                                                  "seam_ratio", "diversity", "diversity_real")}})
        samples.append(imgs[0])
    cfg_used = json.loads((run / "config.json").read_text())
    return {"name": name, "kind": KINDS.get(name) or PHOTOS[name][0], "exemplar": exemplar, "points": points,
            "exemplar_itself": exemplar_itself(Path(exemplar), tileable=name in KINDS),   # procedural ones tile
            "config": {k: cfg_used[k] for k in ("structure_px", "size", "work_scale", "batch", "loss", "d_scales",
                                                 "g_latent_blocks", "g_widths", "d_widths", "n_critic") if k in cfg_used},
            "samples": [s.tolist() for s in samples], "more": [m.tolist() for m in imgs[1:]]}


def contact_sheet(row: dict, path: Path) -> None:
    """exemplar (256 px crop) | the sample after each segment | the last sample tiled 2x2 at half size;
    a second row, under the samples, of more textures from the last segment."""
    from PIL import Image
    ex = Image.open(row["exemplar"]).convert("RGB")
    ex = ex.crop((0, 0, min(256, ex.width), min(256, ex.height))).resize((256, 256))
    tiles = [ex] + [Image.fromarray(np.asarray(s, dtype=np.uint8)) for s in row["samples"]]
    last = np.asarray(row["samples"][-1], dtype=np.uint8)
    tiles.append(Image.fromarray(np.tile(last, (2, 2, 1))).resize((256, 256)))
    more = [Image.fromarray(np.asarray(m, dtype=np.uint8)) for m in row.get("more", [])]
    sheet = Image.new("RGB", (256 * len(tiles) + 4 * (len(tiles) - 1), 516 if more else 256), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, (i * 260, 0))
    for i, t in enumerate(more[:len(tiles) - 2]):
        sheet.paste(t, ((i + 1) * 260, 260))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: two exemplars, a few steps each")
    p.add_argument("--minutes", type=float, default=8.0, help="training budget per exemplar (default 8)")
    p.add_argument("--steps", type=int, default=0, help="a step budget per exemplar instead of --minutes")
    p.add_argument("--only", nargs="+", help="run these exemplars only")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="training overrides (texgan train flags)")
    p.add_argument("--jobs", type=int, default=1, help="exemplars trained at once, one thread each when > 1")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "quality"))
    p.add_argument("--against", nargs="+", default=[], metavar="KEY=VALUE",
                   help="also train each exemplar with these overrides, side by side, under OUT/against")
    p.add_argument("--report", action="store_true", help="write docs/quality.md and docs/quality/*.png (of OUT)")
    args = p.parse_args(argv)
    out = Path(args.out)
    paths = write_exemplars(out / "exemplars")
    names = args.only or (QUICK if args.quick else list(paths))
    missing = [n for n in names if n not in paths]
    if missing:
        p.error(f"unknown exemplar(s) {', '.join(missing)}; the suite has {', '.join(paths)}")
    variants = [(out, parse_sets(args.set))]
    if args.against:
        variants.append((out / "against", {**parse_sets(args.set), **parse_sets(args.against)}))
    ref = reference_speed()
    t0 = time.time()
    for folder, overrides in variants:   # kept even if the suite is stopped before results.json
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "started.json").write_text(json.dumps({"command": "python bench/quality.py " + " ".join(
            argv if argv is not None else sys.argv[1:]), "reference_loop": ref, "overrides": overrides,
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    def finished(row: dict, folder: Path) -> dict:
        # Each exemplar's sheet and scores land as it ends, so a suite cut short keeps what it made.
        contact_sheet(row, folder / "sheets" / f"{row['name']}.png")
        (folder / "rows").mkdir(parents=True, exist_ok=True)
        (folder / "rows" / f"{row['name']}.json").write_text(json.dumps({k: v for k, v in row.items() if k not in PIXEL_KEYS}) + "\n")
        return row

    tasks = [(n, folder, overrides) for n in names for folder, overrides in variants]   # pairs side by side
    if args.jobs > 1:
        os.environ["TEXGAN_BENCH_THREADS"] = "1"
        with ProcessPoolExecutor(args.jobs) as pool:
            futs = {pool.submit(run_one, n, str(paths[n]), str(folder), args.minutes, ov, args.quick, args.steps): (n, folder)
                    for n, folder, ov in tasks}
            done = {futs[f]: finished(f.result(), futs[f][1]) for f in as_completed(futs)}
    else:
        done = {(n, folder): finished(run_one(n, str(paths[n]), str(folder), args.minutes, ov, args.quick, args.steps), folder)
                for n, folder, ov in tasks}
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    for i, (folder, overrides) in enumerate(variants):
        rows = [done[(n, folder)] for n in names]
        results = {"command": "python bench/quality.py " + argv_text,
                   "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                               "jobs": args.jobs, "reference_loop": ref},
                   "minutes": args.minutes, "overrides": overrides, "wall_seconds": round(time.time() - t0),
                   "rows": [{k: v for k, v in r.items() if k not in PIXEL_KEYS} for r in rows]}
        if len(variants) > 1:
            results["side_by_side"] = {"with": str(variants[1 - i][0]),
                                       "note": "each exemplar trained at the same time as its pair, one job each"}
        (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        print(f"{folder}: {overrides or 'defaults'}")
        for r in results["rows"]:
            last = r["points"][-1]
            levels = " ".join(f"{x:.2f}" for x in last["swd_ratio_levels"])
            print(f"{r['name']:14s} step {last['step']:6d} {last['seconds']:6.0f}s  swd_ratio {last['swd_ratio']:.2f}  levels {levels}  "
                  f"worst {last['swd_ratio_worst']:.2f}  colour {last['color_ratio']:.2f}  seam {last['seam_ratio']:.2f}")
        if i == 0:
            main_results = results
    if args.report:
        from quality_report import write_report
        write_report(main_results, out, ROOT / "docs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
