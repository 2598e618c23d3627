"""docs/quality.md from bench/quality.py's results: one table row per exemplar, one contact sheet each.

    python bench/quality_report.py --report OUT      # docs/quality.md from a bench/quality.py --out folder
    python bench/quality_report.py --report OUT1,OUT2 # ... from several runs of the same settings (rows merged)
    python bench/quality_report.py --compare OLD_OUT[,OLD_OUT...] NEW_OUT[,NEW_OUT...] --sheets DIR
    python bench/quality_report.py --compare docs/quality NEW_OUT  # against the published run

prints a side-by-side markdown table of two variants (each one or more --out folders of
bench/quality.py, merged by exemplar) and writes DIR/<exemplar>.png: the old contact sheet above
the new one. `--overview FILE.jpg` writes one picture of every exemplar instead: a row each of
exemplar | old last sample | new last sample | new last sample tiled 2x2 (JPEG: a page of photos).
`--at MINUTES` compares both after that much training (a 2-minute run against the 2-minute point
of an 8-minute one) instead of each one's last point.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def table(results: dict) -> list[str]:
    budget = "steps" if results["rows"] and results["rows"][0]["points"][-1]["minutes"] is None else "min"
    head = ["| exemplar | kind | structure → crop, resolution, D scales | " + budget
            + " | steps | SWD ratio (mean) | per level, fine → coarse | worst | colour | seam | diversity (real) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines = []
    for r in results["rows"]:
        c = r["config"]
        plan = f"{c.get('structure_px', 0):.0f} px → {c['size']} px, ×{c.get('work_scale', 1):g}, {c['d_scales']}"
        for i, p in enumerate(r["points"]):
            when = p["minutes"] if p["minutes"] is not None else p["step"]
            levels = " / ".join(_fmt(v) for v in p["swd_ratio_levels"])
            who = f"{r['name']} | {r['kind']} | {plan}" if i == 0 else " | | "   # the first row names the exemplar
            lines.append(f"| {who} | {when:g} | {p['step']} | {_fmt(p['swd_ratio'])} | "
                         f"{levels} | **{_fmt(p['swd_ratio_worst'])}** | {_fmt(p.get('color_ratio'))} | {_fmt(p['seam_ratio'])} | "
                         f"{_fmt(p['diversity'])} ({_fmt(p['diversity_real'])}) |")
    return head + lines


def write_report(results: dict, out: Path, docs: Path, intro: str = "") -> Path:
    """Copy the contact sheets to docs/quality/ and write docs/quality.md; returns its path."""
    sheets = docs / "quality"
    sheets.mkdir(parents=True, exist_ok=True)
    m = results["machine"]
    lines = ["# Texture quality: the suite", "",
             intro or ("Written by `bench/quality.py --report` (or `bench/quality_report.py --report OUT` from a finished run); the numbers below are from the run it describes. The "
                      "experiments that chose the defaults, session by session, are in "
                      "[quality-history.md](quality-history.md)."), "",
             *header(results), "",
             "SWD ratio: multi-scale sliced Wasserstein distance of 7×7 Laplacian neighbourhoods, generated vs. "
             "exemplar, divided by the same distance between two disjoint halves of the exemplar (1 = as good as "
             "the exemplar itself), on 128 px crops where the exemplar allows; levels fine → coarse. The suite "
             "judges by the worst level, where large structure fails first.", ""]
    lines += target_check(results) + [""] + table(results)
    lines += ["", "## Contact sheets", "",
              "Each: exemplar crop | the sample after each segment | the last sample tiled 2×2 (seams show as a cross). "
              "A second row, where a sheet has one, shows four more of the last segment's textures under the samples, "
              "each with its own global latent.", ""]
    for r in results["rows"]:
        src = Path(results.get("sheets", {}).get(r["name"], out / "sheets" / f"{r['name']}.png"))
        if src.exists():
            shutil.copyfile(src, sheets / f"{r['name']}.png")
            lines += [f"**{r['name']}** ({r['kind']})", "", f"![{r['name']}](quality/{r['name']}.png)", ""]
    path = docs / "quality.md"
    path.write_text("\n".join(lines) + "\n")
    # The numbers behind the page, for the next comparison (bench/quality_report.py --compare takes its folder).
    kept = {k: v for k, v in results.items() if k != "sheets"}
    (sheets / "suite_results.json").write_text(json.dumps(kept, indent=1) + "\n")
    return path


def _where(ref: dict) -> str:
    """' on CPU, texgan in PRECISION' where the run recorded them (runs since 2026-12-07)."""
    return f" on {ref['cpu']}, texgan in {ref['texgan_precision']}" if "cpu" in ref else ""


def header(results: dict) -> list[str]:
    """Command, machine and reference-loop speed; one line per run when the rows come from several."""
    m = results["machine"]
    machine = (f"Machine: {m['cpu']}, {m['cores']} cores, {m['jobs']} exemplar(s) at a time"
               f"{', one thread each' if m['jobs'] > 1 else ', each with the whole machine (as texgan train runs)'}")
    if "parts" not in results:
        ref = m["reference_loop"]
        return [f"Command: `{results['command']}`  ", f"{machine}; reference loop ({ref['loop']}) at "
                f"**{ref['images_per_s']} img/s** with {ref['threads']} thread(s){_where(ref)}, measured in the same run.  ",
                f"Overrides: `{results['overrides'] or 'none (texgan defaults)'}`; wall time {results['wall_seconds']} s."]
    lines = [f"The rows come from {len(results['parts'])} runs of the same settings, one after another on the same "
             f"machine ({machine[9:]}); each measured the reference loop (pytorch/examples DCGAN, 64 px, float32) "
             "as it started:", ""]
    for part in results["parts"]:
        ref = part["reference_loop"]
        speed = (f"**{ref['images_per_s']} img/s** with {ref['threads']} thread(s){_where(ref)}" if ref
                 else "not recorded (the run was stopped before it wrote its results)")
        lines.append(f"- `{part['command']}` ({part['started']}): {', '.join(part['names'])}; reference loop {speed}")
    return lines + ["", f"Overrides: `{results['overrides'] or 'none (texgan defaults)'}`."]


def merge_runs(folders: list[Path]) -> dict:
    """One results dict from several --out folders of the same settings (stopped ones too: their
    started.json and rows/), rows in the suite's order; each folder's command and reference speed kept."""
    from quality import KINDS, PHOTOS
    order = list(KINDS) + list(PHOTOS)
    rows, parts, first = {}, [], None
    for folder in folders:
        done = folder / "results.json"
        info = json.loads(done.read_text()) if done.exists() else None
        start = (json.loads((folder / "started.json").read_text()) if (folder / "started.json").exists() else
                 {"command": info["command"], "reference_loop": info["machine"]["reference_loop"],
                  "overrides": info["overrides"], "started": "?"})
        names = []
        for f in sorted((folder / "rows").glob("*.json")):
            row = json.loads(f.read_text())
            rows[row["name"]] = (row, folder)
            names.append(row["name"])
        first = first or (info["machine"] if info else None)
        parts.append({"command": start["command"], "started": start["started"], "reference_loop": start["reference_loop"],
                      "names": sorted(names, key=order.index), "overrides": start["overrides"]})
    if len({json.dumps(p["overrides"], sort_keys=True) for p in parts}) > 1:
        raise SystemExit("--report: the runs were trained with different overrides; a report shows one setting")
    machine = dict(first or {"cpu": "x86_64", "cores": 2, "jobs": 2})
    machine["reference_loop"] = next((p["reference_loop"] for p in parts if p["reference_loop"]), None)
    return {"command": "; ".join(p["command"] for p in parts), "machine": machine, "overrides": parts[0]["overrides"],
            "parts": parts, "rows": [rows[n][0] for n in order if n in rows],
            "sheets": {n: str(rows[n][1] / "sheets" / f"{n}.png") for n in rows}}


def target_check(results: dict, target: float = 2.0) -> list[str]:
    """One paragraph: which exemplars reach the target at every level after the whole budget."""
    rows = results["rows"]
    ok = [r["name"] for r in rows if r["points"][-1]["swd_ratio_worst"] <= target]
    worst = sorted(rows, key=lambda r: -r["points"][-1]["swd_ratio_worst"])
    far = ", ".join(f"{r['name']} {r['points'][-1]['swd_ratio_worst']:.2f}" for r in worst if r["name"] not in ok)
    lines = [f"**Target (SWD ratio ≤ {target:g} at every level after the whole budget): {len(ok)} of {len(rows)} "
             f"exemplars** ({', '.join(ok) or 'none'}). Not yet: {far or 'none'}."]
    itself = sorted((r for r in rows if "exemplar_itself" in r), key=lambda r: -r["exemplar_itself"]["worst"])
    if itself:   # runs from before 2026-12-07 did not score it
        lines += ["", "How strict the target is on each exemplar: the exemplar itself, cut into textures of 256 px and "
                  "scored the same way (`bench/quality.py: exemplar_itself`), has its worst level at "
                  + ", ".join(f"{r['name']} {r['exemplar_itself']['worst']:.2f}" for r in itself)
                  + ". A generator cannot be expected to score much below its exemplar."]
    return lines


def _merged(folders: str) -> tuple[dict, dict]:
    """{exemplar: row} and {exemplar: its --out folder} over comma-separated --out folders (later ones win)."""
    rows, where = {}, {}
    for folder in map(Path, folders.split(",")):
        # a run's results.json, or docs/quality/'s copy of the published run; a run stopped early has only rows/
        done = next((f for f in (folder / "results.json", folder / "suite_results.json") if f.exists()), None)
        found = (json.loads(done.read_text())["rows"] if done
                 else [json.loads(f.read_text()) for f in sorted((folder / "rows").glob("*.json"))])
        for r in found:
            rows[r["name"]], where[r["name"]] = r, folder
    return rows, where


def _sheet(folder: Path, name: str) -> Path:
    """A run's contact sheet (OUT/sheets/) or the published one (docs/quality/)."""
    inside = folder / "sheets" / f"{name}.png"
    return inside if inside.exists() else folder / f"{name}.png"


def _at(row: dict, at: float | None) -> tuple[int, dict]:
    """(index, point) of the row's point after `at` minutes of training, or its last point."""
    points = row["points"]
    for i, p in enumerate(points):
        if at is not None and p["minutes"] is not None and abs(p["minutes"] - at) < 1e-6:
            return i, p
    if at is not None:
        raise SystemExit(f"{row['name']}: no point at {at:g} minutes (has {[p['minutes'] for p in points]})")
    return len(points) - 1, points[-1]


def compare(old: str, new: str, sheets: Path | None = None, at: float | None = None) -> list[str]:
    """Markdown rows: per exemplar, the old and the new variant side by side, after `at` minutes
    of each (default: each one's last point)."""
    from PIL import Image
    old_rows, old_dir = _merged(old)
    new_rows, new_dir = _merged(new)
    lines = ["| exemplar | kind | old: steps | old: levels fine → coarse | old: worst / colour | new: steps "
             "| new: levels fine → coarse | new: worst / colour |", "|---|---|---|---|---|---|---|---|"]
    for name in [n for n in new_rows if n in old_rows]:
        a, b = _at(old_rows[name], at)[1], _at(new_rows[name], at)[1]
        cells = []
        for p in (a, b):
            cells += [str(p["step"]), " / ".join(_fmt(v) for v in p["swd_ratio_levels"]),
                      f"{_fmt(p['swd_ratio_worst'])} / {_fmt(p.get('color_ratio'))}"]
        better = b["swd_ratio_worst"] < a["swd_ratio_worst"]
        cells[5] = f"**{cells[5]}**" if better else cells[5]
        lines.append(f"| {name} | {new_rows[name]['kind']} | " + " | ".join(cells) + " |")
        if sheets is not None:
            pair = [Image.open(_sheet(d[name], name)).convert("RGB") for d in (old_dir, new_dir)]
            out = Image.new("RGB", (max(p.width for p in pair), sum(p.height for p in pair) + 6), "white")
            out.paste(pair[0], (0, 0))
            out.paste(pair[1], (0, pair[0].height + 6))
            sheets.mkdir(parents=True, exist_ok=True)
            out.save(sheets / f"{name}.png")
    return lines


def overview(old: str, new: str, path: Path, side: int = 192, at: float | None = None) -> Path:
    """One row per exemplar: exemplar | old last sample | new last sample | new tiled 2x2, `side` px each,
    cut from the contact sheets (bench/quality.py: 256 px cells, 4 px apart: exemplar, samples, 2x2).
    With `at`: exemplar | old after `at` min | new after `at` min | new last | new tiled 2x2."""
    from PIL import Image, ImageDraw
    old_rows, old_dir = _merged(old)
    new_rows, new_dir = _merged(new)
    names = [n for n in new_rows if n in old_rows]

    def cell(folder: Path, name: str, i: int) -> Image.Image:
        sheet = Image.open(_sheet(folder, name)).convert("RGB")
        i = i % (sheet.width // 260 + 1)   # negative: from the right
        return sheet.crop((i * 260, 0, i * 260 + 256, 256))

    titles = ["exemplar", "old: last sample", "new: last sample", "new: tiled 2x2"]
    if at is not None:
        titles[1:3] = [f"old: {at:g} min", f"new: {at:g} min", "new: last sample"]
    label_w, gap, top = 110, 4, 20
    out = Image.new("RGB", (label_w + len(titles) * (side + gap), top + len(names) * (side + gap)), "white")
    for j, title in enumerate(titles):
        ImageDraw.Draw(out).text((label_w + j * (side + gap) + 4, 4), title, fill="black")
    for k, name in enumerate(names):
        tiles = [cell(new_dir[name], name, 0), cell(old_dir[name], name, -2), cell(new_dir[name], name, -2),
                 cell(new_dir[name], name, -1)]
        if at is not None:   # sample columns follow the points: column 1 + the point's index
            tiles[1:3] = [cell(old_dir[name], name, 1 + _at(old_rows[name], at)[0]),
                          cell(new_dir[name], name, 1 + _at(new_rows[name], at)[0]), cell(new_dir[name], name, -2)]
        y = top + k * (side + gap)
        ImageDraw.Draw(out).text((4, y + side // 2 - 6), name, fill="black")
        for j, t in enumerate(tiles):
            out.paste(t.resize((side, side), Image.LANCZOS), (label_w + j * (side + gap), y))
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path, quality=88)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="docs/quality.md from a suite run, or a side-by-side table of two variants")
    ap.add_argument("--report", metavar="OUT[,OUT...]",
                    help="write docs/quality.md from this bench/quality.py --out folder (or several runs of the same settings)")
    ap.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"))
    ap.add_argument("--sheets", type=Path, default=None)
    ap.add_argument("--overview", type=Path, default=None, help="one JPEG of every exemplar, old beside new")
    ap.add_argument("--at", type=float, default=None, help="compare both after this many minutes (default: the last point)")
    args = ap.parse_args()
    if args.report:
        folders = [Path(f) for f in str(args.report).split(",")]
        results = (json.loads((folders[0] / "results.json").read_text()) if len(folders) == 1
                   else merge_runs(folders))
        print(f"wrote {write_report(results, folders[0], Path(__file__).resolve().parents[1] / 'docs')}")
    if not args.compare:
        sys.exit(0 if args.report else ap.error("give --report OUT or --compare OLD NEW"))
    print("\n".join(compare(*args.compare, sheets=args.sheets, at=args.at)))
    if args.overview:
        print(f"wrote {overview(*args.compare, args.overview, at=args.at)}")
    sys.exit(0)
