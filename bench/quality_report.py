"""docs/quality.md from bench/quality.py's results: one table row per exemplar, one contact sheet each."""
from __future__ import annotations

import shutil
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
             intro or "Written by `bench/quality.py --report`; numbers below are from the run it describes.", "",
             f"Command: `{results['command']}`  ", f"Machine: {m['cpu']}, {m['cores']} cores, {m['jobs']} exemplar(s) "
             f"at a time; reference loop ({m['reference_loop']['loop']}) at **{m['reference_loop']['images_per_s']} img/s** "
             f"with {m['reference_loop']['threads']} thread(s), measured in the same run.  ",
             f"Overrides: `{results['overrides'] or 'none (texgan defaults)'}`; wall time {results['wall_seconds']} s.", "",
             "SWD ratio: multi-scale sliced Wasserstein distance of 7×7 Laplacian neighbourhoods, generated vs. "
             "exemplar, divided by the same distance between two disjoint halves of the exemplar (1 = as good as "
             "the exemplar itself), on 128 px crops where the exemplar allows; levels fine → coarse. The suite "
             "judges by the worst level, where large structure fails first.", ""]
    lines += table(results)
    lines += ["", "## Contact sheets", "",
              "Each: exemplar crop | the sample after each segment | the last sample tiled 2×2 (seams show as a cross).", ""]
    for r in results["rows"]:
        src = out / "sheets" / f"{r['name']}.png"
        if src.exists():
            shutil.copyfile(src, sheets / f"{r['name']}.png")
            lines += [f"**{r['name']}** ({r['kind']})", "", f"![{r['name']}](quality/{r['name']}.png)", ""]
    path = docs / "quality.md"
    path.write_text("\n".join(lines) + "\n")
    return path
