"""Run every texgan benchmark and write docs/benchmarks.md (tables, plots, the command, the machine).

    .venv/bin/python bench/run_all.py            # full run (~15 min on 2 CPU cores) -> docs/benchmarks.md
    .venv/bin/python bench/run_all.py --quick    # smoke run (~2 min) -> build/bench/benchmarks-quick.md
    .venv/bin/python bench/run_all.py --only synthesis,blender   # re-measure some sections, keep the rest
    .venv/bin/python bench/run_all.py --report   # rewrite the report from the stored results only

Sections (each measured side by side in one process, variants interleaved, medians compared):
  synthesis  ORT vs PyTorch eager (512^2, 2048^2, 4096^2), tiled vs one-shot, FLOP/s vs matmul, ORT settings
  train      texgan --arch dcgan vs a reference DCGAN loop; default tileable steps/s; fused Adam, channels-last
  blender    bpy.ops.texgan.generate vs TextureModel.generate at 1024^2 and 4096^2 (bpy subprocess)
  ttq        SWD-to-floor ratio vs training seconds, default config on the bricks exemplar
  memory     peak memory of generate() at 8192^2 and 16384^2 (one subprocess per size)
  gpu        CUDA: ORT fp32 vs fp16, ORT vs eager, generate() up to 4096^2 (skipped, with the reason, without CUDA)
Results are kept in bench/results.json (full) or build/bench/results-quick.json (--quick).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, WORK, load_avg, machine, model_for, save_json  # noqa: E402

SECTIONS = ("synthesis", "train", "blender", "ttq", "memory", "gpu")
DOCS = ROOT / "docs"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_blender(quick: bool) -> dict:
    _, onnx_path = model_for("material")
    sizes, reps = ("256,1024", 2) if quick else ("1024,4096", 3)
    out = WORK / "blender.json"
    cmd = [sys.executable, str(ROOT / "bench" / "blender_overhead.py"), str(onnx_path), sizes, str(reps), str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    for line in p.stdout.splitlines():
        if line.startswith("blender:"):
            log(line)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.read_text())


def measure(section: str, quick: bool) -> dict:
    t0 = time.time()
    load0 = load_avg()
    if section == "synthesis":
        import synthesis
        res = synthesis.run(quick, log=log)
    elif section == "memory":
        import synthesis
        res = synthesis.run_memory(quick, log=log)
    elif section == "train":
        import train_speed
        res = train_speed.run(quick, log=log)
    elif section == "ttq":
        import time_to_quality
        res = time_to_quality.run(quick, log=log)
    elif section == "blender":
        res = run_blender(quick)
    elif section == "gpu":
        import synthesis
        res = synthesis.run_gpu(quick, log=log)
    else:
        raise ValueError(section)
    res["_section"] = {"seconds": round(time.time() - t0, 1), "load_avg_before": load0, "load_avg_after": load_avg(),
                       "finished_utc": time.strftime("%H:%M:%S UTC", time.gmtime())}
    return res


# ------------------------------------------------------------------------------------------ report

def f(x, nd=2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def yes(ok) -> str:
    return "**met**" if ok else "**not met**"


def plots(res: dict, suffix: str) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    made = {}
    ttq = res.get("ttq")
    if ttq and ttq.get("points"):
        pts = ttq["points"]
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
        ax.plot([p["seconds"] for p in pts], [p["swd_ratio"] for p in pts], "o-", label="default config (CPU)")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="floor (held-out real = 1.0)")
        ax.set_xlabel(f"training wall-clock seconds ({res.get('machine', {}).get('logical_cores', '?')} CPU cores)")
        ax.set_ylabel("SWD / floor (lower is better)")
        ax.set_title("Time to quality, bricks material")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        name = f"bench_time_to_quality{suffix}.png"
        fig.savefig(DOCS / name if not suffix else WORK / name)
        plt.close(fig)
        made["ttq"] = name
    syn = res.get("synthesis")
    if syn and syn.get("ort_vs_torch"):
        rows = syn["ort_vs_torch"]
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r["ort_mpix_s"] for r in rows], 0.4, label="ONNX Runtime")
        ax.bar([x + 0.2 for x in xs], [r["torch_mpix_s"] for r in rows], 0.4, label="PyTorch eager")
        ceiling = syn["matmul"]["best_gflops"] * 1e9 / (2 * syn["model"]["macs_per_pixel"]) / 1e6
        ax.axhline(ceiling, color="grey", linestyle="--", linewidth=1, label="matmul-peak ceiling")
        ax.set_xticks(list(xs), [f"{r['size']}²" for r in rows])
        ax.set_ylabel("megapixels / s")
        ax.set_title("Synthesis, one-shot, default generator (CPU)")
        ax.set_ylim(0, ceiling * 1.25)
        ax.legend(loc="upper left", ncol=3, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        name = f"bench_synthesis{suffix}.png"
        fig.savefig(DOCS / name if not suffix else WORK / name)
        plt.close(fig)
        made["synthesis"] = name
    tr = res.get("train")
    if tr and tr.get("dcgan"):
        ips = tr["dcgan"]["images_per_s"]
        labels = {"ref": "reference loop", "ref_fused": "ref + fused Adam", "ref_cl": "ref + channels-last",
                  "ref_bf16": "ref + bf16 autocast",
                  "texgan": "texgan --arch dcgan", "texgan_fused_cl": "texgan + fused + ch-last"}
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
        keys = [k for k in labels if k in ips]
        ax.barh([labels[k] for k in keys], [ips[k] for k in keys], color=["C0" if k.startswith("ref") else "C1" for k in keys])
        ax.set_xlabel("images / s (batch 64, 64 px, CPU)")
        ax.set_title("DCGAN training throughput")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        name = f"bench_training{suffix}.png"
        fig.savefig(DOCS / name if not suffix else WORK / name)
        plt.close(fig)
        made["train"] = name
    return made


def report(res: dict, quick: bool) -> str:
    m = res.get("machine", {})
    made = plots(res, "-quick" if quick else "")
    L: list[str] = []
    add = L.append
    add("# Benchmarks")
    add("")
    add("Made by one command (issue #7). Every figure is a ratio or a rate measured side by side in one run: the "
        "variants of a comparison alternate round by round after a warm-up, and medians are compared.")
    add("")
    add("```sh")
    add(res.get("command", ".venv/bin/python bench/run_all.py"))
    add("```")
    add("")
    add("| machine | |")
    add("|---|---|")
    add(f"| CPU | {m.get('cpu')} ({m.get('logical_cores')} logical cores; {' '.join(m.get('cpu_flags', [])[:6])} …) |")
    add(f"| memory | {m.get('mem_gb')} GB |")
    add(f"| GPU | {m.get('gpu') or 'none (no GPU was lent to this task)'} |")
    add(f"| OS | {m.get('platform')}, Python {m.get('python')} |")
    add(f"| software | torch {m.get('torch')} ({m.get('torch_threads')} threads), onnxruntime {m.get('onnxruntime')} "
        f"({', '.join(m.get('ort_providers', []))}), numpy {m.get('numpy')} |")
    dirty = m.get("dirty_files")
    add(f"| run | {m.get('date_utc')}, commit {m.get('git_commit')}"
        + (f" plus uncommitted changes in {dirty} files" if dirty else "")
        + f", OMP_NUM_THREADS={m.get('omp_num_threads') or 'unset'} |")
    add("")
    secs = {k: v.get("_section", {}) for k, v in res.items() if isinstance(v, dict) and "_section" in v}
    if secs:
        add("Load average before/after each section (2 cores; > 2 means something else was running): " +
            "; ".join(f"{k} {s.get('load_avg_before')}/{s.get('load_avg_after')} ({s.get('seconds')} s)" for k, s in secs.items()) + ".")
        add("")
        busy = max(max(s.get("load_avg_before", 0), s.get("load_avg_after", 0)) for s in secs.values())
        if busy > 2.5:
            add(f"**Caveat: the CPU was shared during this run** (load average up to {busy:.1f} on 2 cores: other "
                "jobs — a `texgan demo`, the GAN-family bench and later a test suite — ran at the same time, and the run could not be moved; the main run was stopped after its training part and the Blender and memory rows were run separately, see the command). "
                "Interleaving keeps A and B under the same conditions, so ratios are fairer than absolute numbers, but not "
                "immune: with more runnable threads than cores, PyTorch's OpenMP threads (which wait for each other at "
                "every op) lose more than ONNX Runtime's pool, so the ORT / eager ratios below are likely *upper bounds*, "
                "and all rates (images/s, MPix/s, GFLOP/s) are lower than an idle machine gives. Re-run "
                "`make bench` on an idle machine before quoting absolute numbers.")
            add("")

    syn, tr, bl, ttq, mem = (res.get(k) for k in ("synthesis", "train", "blender", "ttq", "memory"))

    # ---------------------------------------------------------------- targets
    add("## Targets")
    add("")
    add("| target | measured | verdict |")
    add("|---|---|---|")
    if tr:
        r = tr["dcgan"]["ratio_texgan_over_ref"]
        add(f"| training ≥ 1.3× the reference DCGAN loop's images/s | {r:.2f}× "
            f"({tr['dcgan']['images_per_s']['texgan']:.1f} vs {tr['dcgan']['images_per_s']['ref']:.1f} img/s) | {yes(r >= 1.3)}: see [gap](#gap-training) |")
    if syn:
        rs = [x["ratio"] for x in syn["ort_vs_torch"]]
        add(f"| ONNX Runtime ≥ 1.5× PyTorch eager (CPU) | " +
            ", ".join(f"{x['size']}²: {x['ratio']:.2f}×" for x in syn["ort_vs_torch"]) + f" | {yes(min(rs) >= 1.5)} |")
        frac = max(x["ort_gflops"] for x in syn["ort_vs_torch"]) / syn["matmul"]["best_gflops"]
        add(f"| synthesis ≥ 50% of measured matmul FLOP/s (CPU) | best {frac * 100:.0f}% "
            f"({max(x['ort_gflops'] for x in syn['ort_vs_torch']):.1f} of {syn['matmul']['best_gflops']:.1f} GFLOP/s) | "
            f"{yes(frac >= 0.5)} |")
    gpu = res.get("gpu") or {}
    g4 = next((r for r in gpu.get("rows", []) if r["size"] == 4096), None) if gpu.get("available") else None
    if g4:
        best = min(g4["gen32_s"], g4["gen16_s"])
        add(f"| 4096² in < 0.2 s on an H100 | generate() {g4['gen32_s']:.3f} s fp32, {g4['gen16_s']:.3f} s fp16 on "
            f"{gpu['device']} | {yes(best < 0.2) if 'H100' in gpu['device'] else '**not an H100**'} |")
    else:
        add("| 4096² in < 0.2 s on an H100 | not measured: no GPU was lent to this task | **not measured** |")
    if mem and mem.get("rows"):
        big = [r for r in mem["rows"] if r.get("size") == 16384 and "peak_mb" in r]
        if big:
            add(f"| 16384² with peak memory < 4 GB | " + ", ".join(
                f"{r['kind']} ({r['channels']} ch, {r['dtype']}): {r['peak_mb'] / 1024:.2f} GB" for r in big) +
                f" | {yes(all(r['peak_mb'] < 4096 for r in big))} |")
        else:
            est = memory_estimates(mem)
            add("| 16384² with peak memory < 4 GB | not measured in this run" + (": " + "; ".join(est) if est else "") +
                " | **not measured** (estimated only) |" if est else
                "| 16384² with peak memory < 4 GB | not measured in this run | **not measured** |")
    if bl and bl.get("rows"):
        r1 = next((r for r in bl["rows"] if r["size"] == 1024), bl["rows"][0])
        add(f"| Blender overhead < 10% of inference at 1024² | {r1['overhead_pct']:.1f}% "
            f"({r1['op_s']:.3f} s vs {r1['inference_s']:.3f} s) | {yes(r1['overhead_pct'] < 10)} |")
    add("")
    add(gaps_text(res))
    add("")

    # ---------------------------------------------------------------- 1 training
    if tr:
        d = tr["dcgan"]
        ips = d["images_per_s"]
        add("## 1. Training throughput")
        add("")
        add(f"`bench/train_speed.py`. DCGAN (paper architecture, `gan_core/dcgan.py`, base width 64), batch {tr['batch']}, "
            f"{tr['size']} px, the embedded RGB exemplar (planks base colour), CPU, torch {tr['torch_threads']} threads. "
            f"{d['reps']} interleaved rounds; texgan is timed over {d['timed_steps_texgan']} steps after "
            f"{d['timed_steps_texgan']} warm-up steps (from its own log.csv), the reference over {d['timed_steps_ref']} steps "
            "of a warm loop.")
        add("")
        add("| variant | images/s | vs reference |")
        add("|---|---|---|")
        names = {"ref": "reference loop (pytorch/examples dcgan style)", "ref_fused": "reference + fused Adam",
                 "ref_cl": "reference + channels-last", "ref_bf16": "reference + bf16 autocast (CPU)",
                 "texgan": "`texgan train --arch dcgan --loss nonsat`",
                 "texgan_fused_cl": "texgan + fused Adam + channels-last (patched in by the bench)"}
        for k in ("ref", "ref_fused", "ref_cl", "ref_bf16", "texgan", "texgan_fused_cl"):
            if k in ips:
                add(f"| {names[k]} | {ips[k]:.1f} | {ips[k] / ips['ref']:.2f}× |")
        add("")
        add(f"Raw images/s per round: " + "; ".join(f"{k} " + ", ".join(f"{v:.1f}" for v in vals) for k, vals in d["all"].items()) + ".")
        add("")
        if "train" in made:
            add(f"![training throughput]({made['train']})")
            add("")
        add(train_diff_text(res))
        add("")
        t = tr.get("tileable") or {"steps_per_s": {}, "timed_steps": 0, "loss": "", "n_critic": 0, "batch": 0,
                                    "g_widths": [], "d_widths": [], "images_per_s": {}}
        sps = t["steps_per_s"]
        if not sps:
            add("**Default tileable config steps/s: not measured in this run** — the run was stopped in that part "
                "to meet its deadline (CPU shared with a test suite and another bench).")
            add("")
        if sps:
            add(f"**Default tileable config** (`TrainConfig()`: {t['loss']}, {t['n_critic']} critic steps per G step, batch "
                f"{t['batch']}, G widths {t['g_widths']}, D widths {t['d_widths']}, bricks material, 5 channels), "
                f"timed over {t['timed_steps']} steps, interleaved rounds:")
            add("")
        if sps:
            add("| variant | G steps/s | images/s (G batch) | vs default |")
            add("|---|---|---|---|")
        for k, v in sps.items():
            add(f"| {k} | {v:.2f} | {t['images_per_s'][k]:.1f} | {v / sps['default']:.2f}× |")
        add("")
        dp = tr.get("data_path", {})
        if dp:
            add("Data path per step (median ms): one crop at a time (`CropSampler.batch`) vs one vectorised gather; "
                "`augment` (per-sample roll + colour jitter); the roll alone vs a vectorised gather:")
            add("")
            add("| batch | crops (loop) | crops (vectorised) | augment | roll (loop) | roll (vectorised) |")
            add("|---|---|---|---|---|---|")
            for b, r in dp.items():
                add(f"| {b} | {r['crop_loop_ms']:.2f} | {r['crop_vectorised_ms']:.2f} | {r['augment_ms']:.2f} | "
                    f"{r['roll_loop_ms']:.2f} | {r['roll_vectorised_ms']:.2f} |")
            add("")

    # ---------------------------------------------------------------- 2 time to quality
    if not ttq:
        add("## 2. Time to quality")
        add("")
        add("**Not measured in this run.** It was started, but with the CPU oversubscribed (load average above 5 on 2 "
            "cores: a test suite, the GAN-family bench and this run) the default config made 5 steps in 54 s of training "
            "(~0.6 s per step on a quiet core), so a quality-vs-seconds curve would measure the other jobs; it was "
            "stopped. `python bench/time_to_quality.py` (or `run_all.py --only ttq`) measures it on a quiet machine. "
            "GPU: not measured — no GPU was lent to this task.")
        add("")
    if ttq:
        add("## 2. Time to quality")
        add("")
        add(f"`bench/time_to_quality.py`. The default config ({ttq['loss']}, batch {ttq['batch']}, G widths "
            f"{ttq['g_widths']}) on the embedded bricks material, CPU. One run trained in segments (`train(..., "
            "max_minutes=…, resume=True)`); the clock is the run's own training seconds (evaluation not counted). "
            "Score: `texgan eval`'s SWD ratio on 8 textures of 256 px (1.0 = as close as held-out real texture).")
        add("")
        add("| training s | step | SWD / floor | seam ratio | diversity (real) |")
        add("|---|---|---|---|---|")
        for p in ttq["points"]:
            add(f"| {p['seconds']:.0f} | {p['step']} | {p['swd_ratio']:.2f} | {p['seam_ratio']:.3f} | "
                f"{p['diversity']:.3f} ({p['diversity_real']:.3f}) |")
        add("")
        if "ttq" in made:
            add(f"![time to quality]({made['ttq']})")
            add("")
        add("GPU: not measured — no GPU was lent to this task.")
        add("")

    # ---------------------------------------------------------------- 3 synthesis
    if syn:
        mo = syn["model"]
        add("## 3. Synthesis")
        add("")
        add(f"`bench/synthesis.py`. The default generator (G widths {mo['g_widths']}, {mo['latent_channels']} latent "
            f"channels, scale {mo['scale']}, {mo['params']:,} parameters, {len(mo['channels'])} output channels: "
            f"base colour, height, roughness), exported with `export.onnx_export.export_run` (fp32, opset 17). "
            f"Convolutions cost **{mo['macs_per_pixel']:,.0f} MACs per output pixel** (counted from the module shapes: "
            + ", ".join(f"{c['cin']}→{c['cout']}: {c['macs_per_pixel']:,.0f}" for c in mo["per_conv"]) + ").")
        add("")
        add(f"Machine peak: float32 `torch.matmul` {syn['matmul']['n']}² × {syn['matmul']['reps']} reps, "
            f"{syn['matmul']['threads']} threads: best **{syn['matmul']['best_gflops']:.1f} GFLOP/s** "
            f"(median {syn['matmul']['median_gflops']:.1f}).")
        add("")
        add("**ONNX Runtime vs PyTorch eager**, one call on the whole latent (no tiling), same weights, same latent "
            "(texgan-latent/1), same output (`tanh·0.5+0.5`); ORT session with default threads, torch "
            f"{mo['torch_threads']} threads, `torch.inference_mode()`:")
        add("")
        add("| size | ORT s | torch s | ORT MPix/s | torch MPix/s | ORT / torch speed | ORT GFLOP/s (of peak) | torch GFLOP/s | max abs diff | reps |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        pk = syn["matmul"]["best_gflops"]
        for r in syn["ort_vs_torch"]:
            add(f"| {r['size']}² | {r['ort_s']:.3f} | {r['torch_s']:.3f} | {r['ort_mpix_s']:.2f} | {r['torch_mpix_s']:.2f} | "
                f"**{r['ratio']:.2f}×** | {r['ort_gflops']:.1f} ({100 * r['ort_gflops'] / pk:.0f}%) | "
                f"{r['torch_gflops']:.1f} ({100 * r['torch_gflops'] / pk:.0f}%) | {r['max_abs_diff']:.1e} | {r['reps']} |")
        add("")
        if "synthesis" in made:
            add(f"![synthesis speed]({made['synthesis']})")
            add("")
        add("**Tiled vs one-shot** through `TextureModel.generate` (latent sampling and the float32 result included): "
            "the default CPU tile of 512 px with a wrap-around halo vs `tile=size` (one run over the whole latent):")
        add("")
        add("| size | tiled s | one-shot s | tiled / one-shot time | tiled MPix/s | tiled useful GFLOP/s (of peak) |")
        add("|---|---|---|---|---|---|")
        for r in syn["tiled_vs_oneshot"]:
            add(f"| {r['size']}² | {r['tiled_s']:.2f} | {r['oneshot_s']:.2f} | {r['tiled_over_oneshot']:.2f} | "
                f"{r['tiled_mpix_s']:.2f} | {r['tiled_gflops']:.1f} ({100 * r['tiled_gflops'] / pk:.0f}%) |")
        add("")
        add("**fp16 vs fp32 on CUDA**: not measured — no GPU was lent to this task (fp16 ONNX on the CPU provider "
            "is not a speed path: ORT's CPU kernels for these convolutions are float32).")
        add("")
    if mem and mem.get("rows"):
        add("**Peak memory** of `TextureModel.generate` (the `texgan generate` path, default CPU tile 512), one fresh "
            "process per size that imports only the inference core (numpy + onnxruntime), VmHWM (the process's resident "
            "high-water mark: interpreter, ORT session, the result array and one tile's working set):")
        add("")
        add("| model | size | result dtype | result array | peak resident | seconds |")
        add("|---|---|---|---|---|---|")
        for r in mem["rows"]:
            if "peak_mb" in r:
                add(f"| {r['kind']} ({r['channels']} ch) | {r['size']}² | {r['dtype']} | {r['result_mb'] / 1024:.2f} GB | "
                    f"**{r['peak_mb'] / 1024:.2f} GB** | {r['seconds']:.0f} |")
            else:
                add(f"| {r['kind']} | {r['size']}² | {r['dtype']} | – | {r.get('error')} | – |")
        add("")
        add(memory_text(res))
        add("")

    # ---------------------------------------------------------------- 4 blender
    if bl:
        add("## 4. Blender overhead")
        add("")
        if "rows" in bl:
            add(f"`bench/blender_overhead.py` in the bpy module {bl.get('bpy')}: the add-on registered from this repository, "
                "`bpy.ops.texgan.generate(model=…, width=S, height=S, seed=0, target='ACTIVE_MATERIAL', device='CPU')` "
                "(synchronous, as from a script; images packed into the .blend, the default) vs `TextureModel.generate(S, S, "
                "seed=0)` on a warm session, alternating after one warm-up each. *Blender side* = operator time minus the "
                "operator's own inference time (job.seconds): image creation, pixel upload, packing, node wiring.")
            add("")
            add("| size | operator s | inference s | overhead s | overhead % of inference | Blender side s | reps |")
            add("|---|---|---|---|---|---|---|")
            for r in bl["rows"]:
                add(f"| {r['size']}² | {r['op_s']:.3f} | {r['inference_s']:.3f} | {r['overhead_s']:.3f} | "
                    f"**{r['overhead_pct']:.1f}%** | {r['blender_side_s']:.3f} | {r['reps']} |")
            add("")
            if all("breakdown" in r for r in bl["rows"]):
                add("Where the Blender side goes (one texture, the add-on's own helpers, all maps together):")
                add("")
                add("| size | resolve model (library.find) s | split into maps s | to RGBA + row flip s | new image + foreach_set s | pack (PNG/EXR encode) s |")
                add("|---|---|---|---|---|---|")
                for r in bl["rows"]:
                    b = r["breakdown"]
                    add(f"| {r['size']}² | {b.get('resolve_s', float('nan')):.3f} | {b['split_s']:.3f} | {b['to_rgba_s']:.3f} | {b['foreach_set_s']:.3f} | {b['pack_s']:.3f} |")
                add("")
            add(blender_text(res))
        else:
            add(f"Failed: {bl.get('error')}")
        add("")

    # ---------------------------------------------------------------- make it fast
    add("## Make it fast: what each change measured")
    add("")
    add("| change | A | B | A s | B s | B / A | where |")
    add("|---|---|---|---|---|---|---|")
    if syn:
        for r in syn["ort_settings"]:
            add(f"| {r['what']} | {r['a']} | {r['b']} | {r['a_s']:.3f} | {r['b_s']:.3f} | {r['b_over_a']:.2f} | synthesis |")
    if tr:
        ips = tr["dcgan"]["images_per_s"]
        B = tr["batch"]
        for k, what in (("ref_fused", "fused Adam (`Adam(fused=True)`), DCGAN reference loop"),
                        ("ref_cl", "channels-last G and D, DCGAN reference loop"),
                        ("ref_bf16", "bf16 autocast on the CPU, DCGAN reference loop")):
            if k in ips:
                add(f"| {what} | {k.replace('ref_', '')} | default | {B / ips[k]:.3f} | {B / ips['ref']:.3f} | "
                    f"{ips[k] / ips['ref']:.2f} | training (s per step of {B}) |")
        if "texgan_fused_cl" in ips:
            add(f"| fused Adam + channels-last, texgan --arch dcgan | both | default | {B / ips['texgan_fused_cl']:.3f} | "
                f"{B / ips['texgan']:.3f} | {ips['texgan_fused_cl'] / ips['texgan']:.2f} | training (s per step of {B}) |")
        sps = (tr.get("tileable") or {}).get("steps_per_s", {})
        for k in ("fused", "channels_last"):
            if k in sps:
                add(f"| {k.replace('_', '-')}, default tileable config | {k} | default | {1 / sps[k]:.3f} | "
                    f"{1 / sps['default']:.3f} | {sps[k] / sps['default']:.2f} | training (s per step) |")
    add("")
    add("B / A > 1 means A is faster.")
    add("")
    add(fast_text(res))
    add("")
    add("## GPU")
    add("")
    gpu = res.get("gpu") or {}
    if gpu.get("available"):
        add(f"{gpu['device']}, providers {', '.join(gpu['providers'])}. One-shot `run_latent` (ORT fp32 / fp16 export) "
            "and torch eager fp32 (host→device→host included), and end-to-end `generate()` (default CUDA tile 1024):")
        add("")
        add("| size | ORT fp32 s | ORT fp16 s | fp16 speed-up | torch eager s | ORT / torch | generate fp32 s | generate fp16 s |")
        add("|---|---|---|---|---|---|---|---|")
        for r in gpu["rows"]:
            add(f"| {r['size']}² | {r['ort32_s']:.4f} | {r['ort16_s']:.4f} | {r['ort32_s'] / r['ort16_s']:.2f}× | "
                f"{r['torch32_s']:.4f} | {r['torch32_s'] / r['ort32_s']:.2f}× | {r['gen32_s']:.4f} | {r['gen16_s']:.4f} |")
    else:
        add("Not measured: no GPU was lent to this task"
            + (f" (`run_all.py` checked: {gpu['reason']})" if gpu.get("reason") else "")
            + ", so there are no CUDA, fp16-on-CUDA, H100 4096² or GPU time-to-quality figures. On a CUDA machine "
            "the `gpu` section (`bench/synthesis.py: run_gpu`) measures ORT fp32 vs fp16, ORT vs eager and "
            "`generate()` up to 4096²; it was written without a GPU at hand and has not run yet.")
    add("")
    return "\n".join(L)


# Texts that explain the measured numbers (they quote the numbers, so they follow a re-run).

def gaps_text(res: dict) -> str:
    tr, syn, bl, mem = (res.get(k) for k in ("train", "synthesis", "blender", "memory"))
    out = ["### Gaps and their causes", ""]
    if tr:
        d = tr["dcgan"]
        ips = d["images_per_s"]
        mc = tr.get("dcgan_macs", {"G_macs": 415e6, "D_macs": 104e6, "predicted_ratio": 0.8,
                                   "texgan_extra_macs_per_image": 0, "ref_macs_per_image": 1})
        out.append(
            f'<a id="gap-training"></a>**Training, {d["ratio_texgan_over_ref"]:.2f}× the reference.** texgan\'s step does '
            "more work than the reference iteration, by design: (1) fakes for D are drawn under `no_grad` and the G step "
            "runs G *again* with autograd, where the reference draws one fake with grad and reuses it (`fake.detach()` for D, "
            f"`fake` for G) — one extra G forward per step, and the DCGAN G costs {mc['G_macs'] / 1e6:.0f} M MACs per image "
            f"against D's {mc['D_macs'] / 1e6:.0f} M; (2) the lazy R1 penalty every 4th step (a D forward and a double backward on reals); (3) "
            "DiffAugment-style translate + colour jitter on every D input; (4) the EMA update and per-step logging. "
            f"Counted in MACs (backward = 2× forward), (1)+(2) add {100 * mc['texgan_extra_macs_per_image'] / mc['ref_macs_per_image']:.0f}% "
            f"to the reference's per-image work, which alone predicts {mc['predicted_ratio']:.2f}×. "
            f"Fused Adam and channels-last, patched in from outside, move texgan to {ips.get('texgan_fused_cl', 0) / ips['ref']:.2f}× "
            f"(channels-last alone on the reference: {d['channels_last_gain_ref']:.2f}×, fused Adam alone: {d['fused_gain_ref']:.2f}×). "
            + (f"The one change measured here that is big enough is bf16 autocast on this AVX512-BF16 CPU: "
               f"{d.get('bf16_gain_ref', float('nan')):.2f}× on the reference loop (texgan enables autocast on CUDA only). "
               if d.get('bf16_gain_ref', 0) > 1.1 else
               f"bf16 autocast measured {d.get('bf16_gain_ref', float('nan')):.2f}× (slower) on the reference loop in this "
               "oversubscribed run, while a quiet one-core probe before the run gave ~1.4–1.7× on a G+D forward/backward: "
               "unresolved until re-measured on a quiet machine. ")
            + 
            "So ≥ 1.3× needs, in gan_core/train.py: reuse the D-step fake for the G step when n_critic = 1 (saves the extra G "
            "forward), CPU bf16 autocast where the CPU has native bf16 (quality effect not measured here), fused Adam; "
            "`torch.compile` could not be measured (compiling the generator did not finish within a 30 s probe on this "
            "2-core machine).")
        out.append("")
    if syn:
        rows = syn["ort_vs_torch"]
        small = [r for r in rows if r["ratio"] < 1.5]
        if small:
            out.append(
                "**ONNX Runtime vs eager.** Below 1.5× at " + ", ".join(f"{r['size']}² ({r['ratio']:.2f}×)" for r in small) +
                ". Both run the same oneDNN-class convolution kernels on the CPU; ORT's edge comes from fusing "
                "conv + LeakyReLU and from not dispatching through Python per op, which matters less when a few large "
                "convolutions dominate the time. ORT's FLOP rate is already "
                f"{max(r['ort_gflops'] for r in rows) / syn['matmul']['best_gflops'] * 100:.0f}% of the matmul peak, so "
                "there is little left for ORT to gain here; the ratio is set by how far eager falls behind.")
            out.append("")
    if bl and bl.get("rows"):
        r1 = next((r for r in bl["rows"] if r["size"] == 1024), bl["rows"][0])
        if r1["overhead_pct"] >= 10:
            b = r1.get("breakdown", {})
            out.append(
                f"**Blender overhead, {r1['overhead_pct']:.0f}% at 1024².** Most of it is packing: `image.pack()` encodes "
                f"every map (PNG for base colour and roughness, EXR for height) on the main thread — "
                f"{b.get('pack_s', float('nan')):.2f} s of the {r1['overhead_s']:.2f} s at 1024² — plus the float32 RGBA "
                f"copy with the row flip ({b.get('to_rgba_s', float('nan')):.2f} s) and re-reading the model's metadata with "
                f"a fresh ORT session on every call (`library.find`, {b.get('resolve_s', float('nan')) * 1000:.0f} ms). "
                "See the recommendations below.")
            out.append("")
    if mem and mem.get("rows"):
        big = [r for r in mem["rows"] if r.get("size") == 16384 and "peak_mb" in r]
        if not big:
            out.append("**16384² memory** was not measured in this run (it takes minutes per model on 2 cores).")
            out.append("")
    return "\n".join(out)


def train_diff_text(res: dict) -> str:
    return ("What differs between the two, on purpose: texgan's step includes everything `texgan train` does (in-memory "
            "crops of the exemplar taken one by one, translate + colour-jitter augmentation of real and fake, a "
            "second G forward for the G step, lazy R1 every 4th step, the EMA of G, per-step `.item()` and log); "
            "the reference does the example's work only (one G forward per iteration, BCELoss on a sigmoid, no "
            "augmentation, no EMA). Same G and D modules, same batch, size, optimiser (Adam 2e-4, betas (0.5, 0.999)), "
            "threads and process; `--loss nonsat` is the DCGAN objective (`texgan train --arch dcgan` alone now gets the "
            "default WGAN-GP with 5 critic steps, not a DCGAN).")


def memory_estimates(mem: dict) -> list[str]:
    """16384^2 rows that were not measured: estimated from the 8192^2 row of the same model as
    (peak - result array) at 8192^2 + the 16384^2 result array (tiling keeps the rest constant)."""
    rows = mem.get("rows", []) if mem else []
    out = []
    for r in rows:
        if r.get("size") != 16384 or "peak_mb" in r:
            continue
        base = next((b for b in rows if b.get("kind") == r["kind"] and b.get("size") == 8192 and "peak_mb" in b), None)
        if base is None:
            continue
        result16 = base["result_mb"] * 4
        est = base["peak_mb"] - base["result_mb"] + result16
        out.append(f"{r['kind']} ({base['channels']} ch, {r['dtype']}): estimated {est / 1024:.2f} GB "
                   f"(8192² peak {base['peak_mb'] / 1024:.2f} GB − its {base['result_mb'] / 1024:.2f} GB result + the "
                   f"{result16 / 1024:.2f} GB 16384² result)")
    return out


def memory_text(res: dict) -> str:
    est = memory_estimates(res.get("memory"))
    pre = ""
    if est:
        pre = ("**16384² not measured in this run** (each takes several minutes on 2 shared cores and the run had a "
               "deadline); estimates, not measurements: " + "; ".join(est) + ". ")
    return pre + ("The bound is the result array plus one tile: generate() allocates the result "
            "(H·W·C at the output dtype) and runs 512 px tiles with a halo, so ORT's working set stays constant. "
            "`texgan generate` writes PNGs from uint8/uint16 results (uint16 when a normal map is derived, as for "
            "the material model). A float32 result at 16384² is 5.4 GB for 5 channels (3.2 GB for RGB) on its "
            "own, so float EXR output at that size cannot stay under 4 GB in one array.")


def blender_text(res: dict) -> str:
    return ("Inference inside the operator is the same `TextureModel.generate` (worker.Job, cached session). The "
            "Blender side is main-thread work that scales with pixels: RGBA conversion, `foreach_set` and, "
            "dominant, `image.pack()`, which encodes PNG/EXR.")


def fast_text(res: dict) -> str:
    """Recommendations, each with the number that backs it (B / A from the table above)."""
    tr, syn, bl = (res.get(k) for k in ("train", "synthesis", "blender"))
    out = ["**What pays, and what the owners of gan_core/ and addon/ should change** (the bench measures; it "
           "does not edit those packages):", ""]

    def gain(x):
        return f"{x:.2f}×"

    if syn:
        st = {r["what"].split(",")[0]: r for r in syn["ort_settings"]}
        for key, r in st.items():
            g = r["b_over_a"]
            if key.startswith("ORT graph optimisation"):
                out.append(f"- ORT graph optimisation: ORT_ENABLE_ALL is {gain(g)} the speed of no optimisation "
                           f"({'keep it on — TextureModel already does' if g > 1.02 else 'no measurable difference at this size; keep it on, it costs nothing'}).")
            elif key.startswith("ORT intra-op threads"):
                out.append(f"- ORT threads: 2 threads run at {gain(g)} the speed of 1 thread "
                           + ("— leave ORT's default (one thread per physical core); do not pin 1 thread on small machines."
                              if g > 1.1 else "— two threads barely help on this 2-core VM; the default is fine, "
                              "and `threads=1` is a reasonable choice when Blender's UI must stay responsive."))
            elif key.startswith("torch eager"):
                out.append(f"- channels-last for eager synthesis: {gain(g)} the speed of NCHW "
                           + ("— worth it for `gan_core.sample`." if g > 1.05 else "— does not pay on this CPU; keep NCHW."))
            elif key.startswith("session reuse"):
                out.append(f"- Session reuse: a new session per 512² call costs {gain(g)} the time of a reused one "
                           f"(+{(r['b_s'] - r['a_s']) * 1000:.0f} ms per call). worker.SESSIONS and `texgan generate --count` "
                           "already reuse; `addon.library.find(path)` does not (it opens a session to read metadata on every "
                           "operator call) — cache its result by (path, size, mtime) as `Library.scan` does.")
            elif key.startswith("CPU tile side"):
                out.append(f"- CPU tile side: 1024 px tiles are {gain(g)} the speed of the default 512 px at 2048² "
                           "(less halo recomputation) but need about three times the working set (docstring of "
                           "addon/inference.py: ~1.8 vs ~0.6 GB); keep 512 unless memory is plentiful.")
        to = syn.get("tiled_vs_oneshot", [])
        if to:
            out.append("- Tiled vs one-shot: " + ", ".join(f"{r['size']}² tiled takes {r['tiled_over_oneshot']:.2f}× the one-shot time"
                                                          for r in to) + " — tiling bounds memory at little or no cost in speed.")
    if tr:
        d = tr["dcgan"]
        out.append(f"- Fused Adam (`torch.optim.Adam(..., fused=True)`, supported on CPU in torch {res.get('machine', {}).get('torch', '')}): "
                   f"{gain(d['fused_gain_ref'])} on the DCGAN reference loop"
                   + (f", {gain(tr['tileable']['steps_per_s']['fused'] / tr['tileable']['steps_per_s']['default'])} on the default tileable config"
                      if "fused" in (tr.get("tileable") or {}).get("steps_per_s", {}) else "")
                   + ". " + ("Apply it in `make_optimizer` (one keyword)." if d["fused_gain_ref"] > 1.03 else
                             "Within noise on these small models; harmless to apply."))
        out.append(f"- Channels-last G and D for training on the CPU: {gain(d['channels_last_gain_ref'])} on the reference loop"
                   + (f", {gain(tr['tileable']['steps_per_s']['channels_last'] / tr['tileable']['steps_per_s']['default'])} on the default tileable config"
                      if "channels_last" in (tr.get("tileable") or {}).get("steps_per_s", {}) else "")
                   + ". " + ("Worth applying." if d["channels_last_gain_ref"] > 1.05 else "Does not pay here; leave NCHW."))
        if "bf16_gain_ref" in d:
            out.append(f"- bf16 autocast on the CPU (this CPU has AVX512-BF16): {gain(d['bf16_gain_ref'])} on the reference loop — "
                       + ("the largest training win measured; offer it (`amp` currently applies to CUDA only) after checking "
                          "quality with bench/time_to_quality.py." if d["bf16_gain_ref"] > 1.1 else
                          "slower in this oversubscribed run (a quiet one-core probe gave ~1.4–1.7×); re-measure before acting."))
        dp = tr.get("data_path", {})
        if dp and "64" in dp:
            step_ms = 1000 * tr["batch"] / d["images_per_s"]["texgan"]
            r = dp["64"]
            out.append(f"- Crops and augmentation: crops at batch 64 take {r['crop_loop_ms']:.1f} ms and augment "
                       f"{r['augment_ms']:.1f} ms of a {step_ms:.0f} ms step ({100 * (r['crop_loop_ms'] + 2 * r['augment_ms']) / step_ms:.1f}% "
                       "with real and fake augmented). Crops are already cut from an in-memory tensor (no per-step "
                       "decoding); a vectorised gather is "
                       + ("faster" if r["crop_vectorised_ms"] < r["crop_loop_ms"] else "not faster")
                       + " but the data path is too small a share of a step to matter.")
        out.append("- `torch.compile`: not measured — compiling the generator did not finish within a 30 s probe on this "
                   "2-core machine, so it cannot pay back in runs of a few minutes here; worth trying on a GPU machine.")
    if bl and bl.get("rows"):
        out.append("- Blender: move the PNG/EXR encoding off the main thread and out of the operator — keep the images "
                   "GENERATED and pack them in a `save_pre` handler (or encode in the worker thread and "
                   "`image.pack(data=…)`), build the flipped RGBA buffer in the worker thread too, and cache "
                   "`library.find`. That removes nearly all of the measured Blender-side time from the operator.")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few steps (smoke test, ~2 min)")
    ap.add_argument("--only", default="", help=f"comma-separated sections to measure ({', '.join(SECTIONS)})")
    ap.add_argument("--report", action="store_true", help="do not measure; rewrite the report from stored results")
    ap.add_argument("--results", default=None)
    ap.add_argument("--doc", default=None)
    a = ap.parse_args(argv)
    results = Path(a.results) if a.results else (WORK / "results-quick.json" if a.quick else ROOT / "bench" / "results.json")
    doc = Path(a.doc) if a.doc else (WORK / "benchmarks-quick.md" if a.quick else DOCS / "benchmarks.md")
    res = json.loads(results.read_text()) if results.exists() else {}
    if not a.report:
        only = [s for s in a.only.split(",") if s] or list(SECTIONS)
        bad = [s for s in only if s not in SECTIONS]
        if bad:
            ap.error(f"unknown section(s) {bad}; choose from {', '.join(SECTIONS)}")
        env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "TEXGAN_BENCH_SKIP_16K", "TEXGAN_BENCH_DEADLINE") if k in os.environ)
        cmd = ((env + " ") if env else "") + ".venv/bin/python bench/run_all.py" + ("".join(" " + shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:])))
        res["machine"] = machine()
        res["command"] = cmd if not res.get("command") or not a.only else res["command"] + "\n" + cmd
        model_for("material")
        model_for("rgb")
        for s in only:
            log(f"== {s}")
            try:
                res[s] = measure(s, a.quick)
            except Exception as ex:  # keep the other sections
                import traceback
                traceback.print_exc()
                res[s] = {"error": f"{type(ex).__name__}: {ex}"}
            save_json(results, res)
    res_ok = {k: v for k, v in res.items() if not (isinstance(v, dict) and "error" in v and len(v) <= 2)}
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(report(res_ok, a.quick) + "\n")
    log(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
