"""docs/benchmarks.md from the stored benchmark results: report() and one function per section."""
from __future__ import annotations

from plots import plots
from report_notes import fast_text, gaps_text, memory_text, train_diff_text


def f(x, nd=2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def yes(ok) -> str:
    return "**met**" if ok else "**not met**"


def heading(add, title: str) -> None:
    add(f"## {title}")
    add("")


def note(add, text: str) -> None:
    """A paragraph of explanation (report_notes.py), set off by blank lines."""
    add("")
    add(text)
    add("")


def report(res: dict, quick: bool) -> str:
    """docs/benchmarks.md from the stored results: a header, then one function per section."""
    made = plots(res, "-quick" if quick else "")
    L: list[str] = []
    for section in (_header, _targets, _training, _time_to_quality, _synthesis, _blender, _commits, _make_it_fast):
        section(L.append, res, made, quick)
    return "\n".join(L)


def _header(add, res: dict, made: dict, quick: bool) -> None:
    """Title, commands, machine and load."""
    m = res.get("machine", {})
    add("# Benchmarks")
    add("")
    add("Made by `make bench` (`bench/run_all.py`, issue #7); a section re-measured after a change is re-run with "
        "`--only`, and each section's figures come from the command named beside it (with the commit it ran at). "
        "Every figure is a ratio or a rate measured side by side in one run: the variants of a comparison alternate "
        "round by round after a warm-up, and medians are compared.")
    add("")
    add("```sh")
    by_cmd: dict = {}
    for name, v in res.items():
        if isinstance(v, dict) and v.get("_section", {}).get("command"):
            sec = v["_section"]
            by_cmd.setdefault(sec["command"], []).append(name + (f" @ {sec['commit']}" if sec.get("commit") else ""))
    for c, names in by_cmd.items() or {".venv/bin/python bench/run_all.py": []}.items():
        add(f"{c}" + (f"   # {', '.join(names)}" if names else ""))
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
    add(f"| last run | {m.get('date_utc')}, commit {m.get('git_commit')}"
        + (f" plus uncommitted changes in {dirty} files" if dirty else "")
        + f", OMP_NUM_THREADS={m.get('omp_num_threads') or 'unset'} |")
    add("")
    secs = {k: v.get("_section", {}) for k, v in res.items() if isinstance(v, dict) and "_section" in v}
    cpus: dict = {}
    for k, sec in secs.items():
        cpus.setdefault(sec.get("cpu", "a CPU not recorded"), []).append(k)
    if len(cpus) > 1:   # a section re-measured on another machine keeps its own figures, and says so
        add("Sections measured on different machines: " + "; ".join(f"{', '.join(ks)} on {c}" for c, ks in cpus.items())
            + ". The table above is the last run's machine; compare figures within a section, not across.")
        add("")
    if secs:
        add("Load average before/after each section (2 cores; > 2 means something else was running): " +
            "; ".join(f"{k} {s.get('load_avg_before', '–')}/{s.get('load_avg_after', '–')}" + (f" ({s['seconds']} s)" if s.get('seconds') else "") for k, s in secs.items()) + ".")
        add("")
        timed = [s for k, s in secs.items() if k != "memory"]   # memory rows are not timings
        busy = max((max(s.get("load_avg_before", 0), s.get("load_avg_after", 0)) for s in timed), default=0)
        if busy > 2.5:
            add(f"**Caveat: the CPU was shared during this run** (load average up to {busy:.1f} on 2 cores). "
                "Interleaving keeps A and B under the same conditions, so ratios are fairer than absolute numbers, but not "
                "immune: with more runnable threads than cores, PyTorch's OpenMP threads lose more than ONNX Runtime's "
                "pool. Re-run `make bench` on an idle machine before quoting absolute numbers.")
            add("")


def _targets(add, res: dict, made: dict, quick: bool) -> None:
    """The targets table."""
    syn, tr, bl, mem = res.get("synthesis"), res.get("train"), res.get("blender"), res.get("memory")
    heading(add, "Targets")
    add("| target | measured | verdict |")
    add("|---|---|---|")
    if tr:
        r = tr["dcgan"]["ratio_texgan_over_ref"]
        add(f"| training ≥ 1.3× the reference DCGAN loop's images/s | {r:.2f}× "
            f"({tr['dcgan']['images_per_s']['texgan']:.1f} vs {tr['dcgan']['images_per_s']['ref']:.1f} img/s, bf16 autocast; "
            f"float32: {tr['dcgan']['ratio_texgan_fp32_over_ref']:.2f}×) | {yes(r >= 1.3)}: see [cause](#gap-training) |")
        d = tr["dcgan"]
        if "loop_ratio_bf16" in d:
            worst = min(d["loop_ratio_bf16"], d["loop_ratio_fp32"])
            add(f"| training-loop overhead ≤ 10% against a plain loop at the same precision | the reference's work "
                f"(no R1, no augmentation): bf16 {d['loop_ratio_bf16']:.2f}×, float32 {d['loop_ratio_fp32']:.2f}×; "
                f"everything `texgan train` does: bf16 {d['full_ratio_bf16']:.2f}× | the loop: {yes(worst >= 0.9)}; "
                f"the whole step: {yes(d['full_ratio_bf16'] >= 0.9)}: see [cause](#gap-training) |")
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
            add("| 16384² with peak memory < 4 GB | not measured in this run | **not measured** |")
    if bl and bl.get("rows"):
        r1 = next((r for r in bl["rows"] if r["size"] == 1024), bl["rows"][0])
        paired = r1.get("paired_overhead_pct", r1["overhead_pct"])
        add(f"| Blender overhead < 10% of inference at 1024² | {r1['overhead_pct']:.1f}% ({r1['op_s']:.3f} s vs "
            f"{r1['inference_s']:.3f} s); per call against its own inference {paired:.1f}% | "
            f"{yes(r1['overhead_pct'] < 10)}: see [notes](#gap-blender) |")
    note(add, gaps_text(res))


def _training(add, res: dict, made: dict, quick: bool) -> None:
    """Section 1: training speed."""
    tr = res.get("train")
    if tr:
        d = tr["dcgan"]
        ips = d["images_per_s"]
        heading(add, "1. Training throughput")
        add(f"`bench/train_speed.py`. DCGAN (paper architecture, `gan_core/dcgan.py`, base width 64), batch {tr['batch']}, "
            f"{tr['size']} px, the embedded RGB exemplar (planks base colour), CPU, torch {tr['torch_threads']} threads. "
            f"{d['reps']} interleaved rounds; texgan is timed over {d['timed_steps_texgan']} steps after "
            f"warm-up steps (from its own log.csv), the reference over {d['timed_steps_ref']} steps "
            "of a warm loop.")
        add("")
        add("| variant | images/s | vs reference |")
        add("|---|---|---|")
        names = {"ref": "reference loop (pytorch/examples dcgan style)", "ref_fused": "reference + fused Adam",
                 "ref_cl": "reference + channels-last", "ref_bf16": "reference + bf16 autocast (CPU)",
                 "texgan": "`texgan train --arch dcgan --loss nonsat` (default `amp`: bf16 autocast here)",
                 "texgan_fp32": "`texgan train --arch dcgan --loss nonsat --no-amp` (float32)",
                 "texgan_same_work": "the same, the reference's work only (`--r1-gamma 0 --no-translate --color-jitter 0`)",
                 "texgan_same_work_fp32": "the same, the reference's work only, `--no-amp` (float32)"}
        for k in ("ref", "ref_fused", "ref_cl", "ref_bf16", "texgan", "texgan_fp32", "texgan_same_work",
                  "texgan_same_work_fp32"):
            if k in ips:
                add(f"| {names[k]} | {ips[k]:.1f} | {ips[k] / ips['ref']:.2f}× |")
        add("")
        add(f"Raw images/s per round: " + "; ".join(f"{k} " + ", ".join(f"{v:.1f}" for v in vals) for k, vals in d["all"].items()) + ".")
        add("")
        if "train" in made:
            add(f"![training throughput]({made['train']})")
            note(add, train_diff_text(res))
        t = tr.get("tileable") or {"steps_per_s": {}, "timed_steps": 0, "loss": "", "n_critic": 0, "batch": 0,
                                    "g_widths": [], "d_widths": [], "images_per_s": {}}
        sps = t["steps_per_s"]
        if sps:
            add(f"**Default tileable config** (`TrainConfig()`: {t['loss']}, {t['n_critic']} critic steps per G step, batch "
                f"{t['batch']}, G widths {t['g_widths']}, D widths {t['d_widths']}"
                + (f", critic padding {t['d_padding']}" if t.get("d_padding") else "") + ", bricks material, 5 channels), "
                f"timed over {t['timed_steps']} steps, interleaved rounds:")
            add("")
        if sps:
            add("| variant | G steps/s | images/s (G batch) | vs default |")
            add("|---|---|---|---|")
        tnames = {"default": "default (`amp`: bf16 autocast here)", "fp32": "`--no-amp` (float32)",
                  "fused": "default + fused Adam (patched in by the bench)",
                  "channels_last": "default + channels-last G and D (patched in by the bench)",
                  "plain_upsampling": "default with G's upsampling as nearest + conv in training (patched in by the bench)"}
        for k, v in sps.items():
            add(f"| {tnames.get(k, k)} | {v:.2f} | {t['images_per_s'][k]:.1f} | {v / sps['default']:.2f}× |")
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


def _time_to_quality(add, res: dict, made: dict, quick: bool) -> None:
    """Section 2: quality per second."""
    ttq = res.get("ttq")
    heading(add, "2. Time to quality")
    if ttq and ttq.get("curves"):
        add(f"`bench/time_to_quality.py`. The default config ({ttq['loss']}, batch {ttq['batch']}, G widths "
            f"{ttq['g_widths']}) on the embedded bricks material, CPU, with `amp` (bf16 autocast) and with `--no-amp` "
            "(float32): the two runs train at the same time, one process and one thread each, so they share the "
            "machine's conditions. Each run is trained in segments (`train(..., max_minutes=…, resume=True)`); the clock "
            "is the run's own training seconds (evaluation not counted). Score: `texgan eval`'s SWD ratio on 8 textures "
            "of 256 px (1.0 = as close as held-out real texture; lower is better).")
        add("")
        names = list(ttq["curves"])
        add("| training s | " + " | ".join(f"{n}: step, SWD / floor, seam" for n in names) + " |")
        add("|---|" + "---|" * len(names))
        rows = zip(*(ttq["curves"][n]["points"] for n in names))
        for pts in rows:
            add(f"| {pts[0]['seconds']:.0f} | " + " | ".join(
                f"{q['step']}, **{q['swd_ratio']:.2f}**, {q['seam_ratio']:.2f}" for q in pts) + " |")
        add("")
        last = {n: ttq["curves"][n]["points"][-1] for n in names}
        add("Diversity at the end (mean pairwise distance of the textures; real crops in brackets): " + ", ".join(
            f"{n} {q['diversity']:.3f} ({q['diversity_real']:.3f})" for n, q in last.items()) + ".")
        add("")
        if "ttq" in made:
            add(f"![time to quality]({made['ttq']})")
            add("")
    else:
        add("Not measured in this run: `python bench/time_to_quality.py` (or `run_all.py --only ttq`).")
        add("")
    add("GPU: not measured — " + ((res.get("gpu") or {}).get("reason") or "no GPU was lent to this task") + ".")
    add("")


def _synthesis(add, res: dict, made: dict, quick: bool) -> None:
    """Section 3: synthesis speed and memory."""
    syn, mem = res.get("synthesis"), res.get("memory")
    if syn:
        mo = syn["model"]
        heading(add, "3. Synthesis")
        add(f"`bench/synthesis.py`. The default generator (G widths {mo['g_widths']}, {mo['latent_channels']} latent "
            f"channels, scale {mo['scale']}, {mo['params']:,} parameters, {len(mo['channels'])} output channels: "
            f"base colour, height, roughness), exported with `export.onnx_export.export_run` (fp32, opset 17; the "
            f"graph wraps the latent once, runs the convolutions unpadded and each upsampling with its convolution as "
            f"one transposed convolution, export/pad_once.py). "
            f"Convolutions cost **{mo['macs_per_pixel']:,.0f} MACs per output pixel** (counted from the trained module shapes, "
            f"the useful work behind the GFLOP/s below: "
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
        note(add, memory_text(res))


def _blender(add, res: dict, made: dict, quick: bool) -> None:
    """Section 4: the Blender operator's overhead."""
    bl = res.get("blender")
    if bl:
        heading(add, "4. Blender overhead")
        if "rows" in bl:
            add(f"`bench/blender_overhead.py` in the bpy module {bl.get('bpy')}: the add-on registered from this repository, "
                "`bpy.ops.texgan.generate(model=…, width=S, height=S, seed=0, target='ACTIVE_MATERIAL', device='CPU')` "
                "(synchronous, as a script or `blender -b` runs it; the images are packed into the .blend when it is "
                "saved) vs `TextureModel.generate(S, S, seed=0)` on the operator's own cached session "
                "(`worker.SESSIONS`), alternating after one warm-up each. "
                "*Blender side* = operator time minus the operator's own inference time (job.seconds): resolving the "
                "model, image creation, pixel upload, node wiring. *Pack at save* = what saving the .blend then costs "
                "for these images (`pack_pending_images()`, PNG and EXR encoding).")
            add("")
            add("| size | operator s | inference s | overhead s | overhead % (medians) | Blender side s | overhead % per call (paired) | pack at save s | reps |")
            add("|---|---|---|---|---|---|---|---|---|")
            for r in bl["rows"]:
                add(f"| {r['size']}² | {r['op_s']:.3f} | {r['inference_s']:.3f} | {r['overhead_s']:.3f} | "
                    f"{r['overhead_pct']:.1f}% | {r['blender_side_s']:.3f} | **{r.get('paired_overhead_pct', float('nan')):.1f}%** | "
                    f"{r.get('pack_at_save_s', float('nan')):.3f} | {r['reps']} |")
            add("")
            add("*Overhead % (medians)* compares the medians of separate operator and inference calls, as the issue "
                "words it (the target is judged on it). *Per call (paired)* compares every operator call with the "
                "inference inside that same call (job.seconds): the operator's own work, without the difference in "
                "inference speed between the two.")
            add("")
            if all("breakdown" in r for r in bl["rows"]):
                add("Where the Blender side goes (one texture, the add-on's own helpers, all maps together):")
                add("")
                add("| size | resolve model (library.find, cached) s | split into maps s | to RGBA + row flip s | new image + foreach_set s | pack (PNG/EXR encode; at save) s |")
                add("|---|---|---|---|---|---|")
                for r in bl["rows"]:
                    b = r["breakdown"]
                    add(f"| {r['size']}² | {b.get('resolve_s', float('nan')):.3f} | {b['split_s']:.3f} | {b['to_rgba_s']:.3f} | {b['foreach_set_s']:.3f} | {b['pack_s']:.3f} |")
                add("")
            add("In the UI the operator runs inference in a worker thread and packs the images when it applies the "
                "result: see [Gaps](#gap-blender).")
        else:
            add(f"Failed: {bl.get('error')}")
        add("")


def _commits(add, res: dict, made: dict, quick: bool) -> None:
    """Section 5: two commits side by side on what users run (bench/compare_commits.py)."""
    c = res.get("commits")
    if not c:
        return
    heading(add, "5. Before and after a change: two commits side by side")
    add(f"`bench/compare_commits.py` checks out `{c['old']}` and `{c['new']}` into git worktrees and runs each task "
        f"as a fresh process (start-up included), the two commits alternating, {c['rounds']} rounds after a warm-up; "
        f"size {c['size']} px (bake: {c['size'] // 2} px maps), the shipped bricks model, load average "
        f"{c['load_avg']:.1f} at the end"
        + (f"; train: `texgan train` with the defaults, {c['train_steps']} steps on the embedded cobbles exemplar"
           if "train" in c["tasks"] else "")
        + ". A ratio of 1 is unchanged; the spread is the range of the per-round ratios.")
    add("")
    add("| task | old (s) | new (s) | new / old | per-round spread | same bytes |")
    add("|---|---|---|---|---|---|")
    for name, t in c["tasks"].items():
        same = c["same_bytes"].get(name)
        add(f"| {name} | {t['old_s']:.3f} | {t['new_s']:.3f} | {t['ratio']:.3f} | {t['ratio_min']:.3f}–{t['ratio_max']:.3f} "
            f"| {'yes' if same else 'no' if same is not None else '(a .blend: not compared)' if name == 'operator' else '(not compared)'} |")
    add("")


def _make_it_fast(add, res: dict, made: dict, quick: bool) -> None:
    """What each speed change measured, and the GPU."""
    syn, tr = res.get("synthesis"), res.get("train")
    heading(add, "Make it fast: what each change measured")
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
        if "texgan_fp32" in ips:
            add(f"| bf16 autocast (`amp`), texgan --arch dcgan | bf16 | float32 | {B / ips['texgan']:.3f} | "
                f"{B / ips['texgan_fp32']:.3f} | {ips['texgan'] / ips['texgan_fp32']:.2f} | training (s per step of {B}) |")
        sps = (tr.get("tileable") or {}).get("steps_per_s", {})
        if "fp32" in sps:
            add(f"| bf16 autocast (`amp`), default tileable config | bf16 | float32 | {1 / sps['default']:.3f} | "
                f"{1 / sps['fp32']:.3f} | {sps['default'] / sps['fp32']:.2f} | training (s per step) |")
        if "plain_upsampling" in sps:
            add(f"| G's upsampling levels in training: one transposed conv vs nearest upsampling + conv, default tileable "
                f"config | transposed | nearest + conv | {1 / sps['default']:.3f} | {1 / sps['plain_upsampling']:.3f} | "
                f"{sps['default'] / sps['plain_upsampling']:.2f} | training (s per step) |")
        for k in ("fused", "channels_last"):
            if k in sps:
                add(f"| {k.replace('_', '-')}, default tileable config | {k} | default | {1 / sps[k]:.3f} | "
                    f"{1 / sps['default']:.3f} | {sps[k] / sps['default']:.2f} | training (s per step) |")
    add("")
    add("B / A > 1 means A is faster.")
    note(add, fast_text(res))
    heading(add, "GPU")
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


# Texts that explain the measured numbers (they quote the numbers, so they follow a re-run).
