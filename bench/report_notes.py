"""The prose of docs/benchmarks.md that interprets the figures: gaps, training differences, memory, speed changes."""
from __future__ import annotations


def gaps_text(res: dict) -> str:
    """Causes for the targets not met, and notes on the ones met only through a change measured here."""
    tr, syn, bl = (res.get(k) for k in ("train", "synthesis", "blender"))
    out = ["### Gaps, causes and notes", ""]
    if tr:
        d = tr["dcgan"]
        r = d["ratio_texgan_over_ref"]
        out.append(
            f'<a id="gap-training"></a>**Training, {r:.2f}× the reference.** The whole gain is bf16 autocast '
            f"({tr.get('amp_dtype_cpu', 'bf16')} on this CPU, which has AVX512-BF16; texgan's default `amp`): "
            f"{d['amp_gain_texgan']:.2f}× on texgan's own step, {d['bf16_gain_ref']:.2f}× on the reference loop. In float32 "
            f"(`--no-amp`) texgan runs at {d['ratio_texgan_fp32_over_ref']:.2f}× the reference: its step does more than the "
            "example's — the lazy R1 penalty every 16th step since 2026-12-03, every 4th before (a D forward and double backward on a separate real "
            "batch; under `amp` in bf16 since 2026-12-03, before that in float32), translate + colour-jitter "
            "augmentation of every D input, the EMA of G and the per-step log. "
            + (f"With R1 and augmentation off, doing the reference's work only, texgan runs at "
               f"{d['loop_ratio_bf16']:.2f}× the bf16 reference in bf16 and {d['loop_ratio_fp32']:.2f}× the reference in "
               f"float32: the loop itself (crops, EMA, logging, checks) "
               + ("costs less than 10% against the plain loop" if min(d["loop_ratio_bf16"], d["loop_ratio_fp32"]) >= 0.9
                  else "costs more than 10% against the plain loop")
               + f"; what texgan's full step adds against the bf16 reference ({d['full_ratio_bf16']:.2f}×) is R1 and "
               "augmentation, which are training choices, not loop overhead. " if "loop_ratio_bf16" in d else "")
            + "Since the G step now reuses the D step's fake (as the example does), G runs once per step in both. "
            + ("The target holds only through bf16: on a CPU without native bf16 (no AVX512-BF16/AMX) `amp` stays "
               "float32 and texgan trains at the float32 ratio above." if r >= 1.3 else
               "bf16 alone does not cover R1 and augmentation here; R1 is what is left to cut (it is texgan's "
               "stabiliser, kept on purpose)."))
        out.append("")
    if syn:
        rows = syn["ort_vs_torch"]
        small = [x for x in rows if x["ratio"] < 1.5]
        if small:
            out.append(
                "**ONNX Runtime vs eager.** Below 1.5× at " + ", ".join(f"{x['size']}² ({x['ratio']:.2f}×)" for x in small) +
                ". Both run oneDNN-class convolutions on the CPU; ORT's edge is fusing conv + LeakyReLU and not "
                "dispatching through Python per op, which matters less when a few large convolutions dominate.")
            out.append("")
    if bl and bl.get("rows"):
        r1 = next((x for x in bl["rows"] if x["size"] == 1024), bl["rows"][0])
        b = r1.get("breakdown", {})
        paired = r1.get("paired_overhead_pct", r1["overhead_pct"])
        big = next((x for x in bl["rows"] if x["size"] == 4096), None)
        out.append(
            '<a id="gap-blender"></a>'
            f"**Blender overhead at 1024²: {r1['overhead_pct']:.1f}%** ({r1['op_s']:.3f} s vs {r1['inference_s']:.3f} s "
            f"on the same session; {paired:.1f}% per call against the operator's own inference). What the operator adds "
            f"is the float32 RGBA copy with the row flip and `foreach_set` (one call on fresh buffers: "
            f"{b.get('to_rgba_s', float('nan')):.3f} s and {b.get('foreach_set_s', float('nan')):.3f} s for all maps); model "
            f"lookup is cached ({b.get('resolve_s', float('nan')) * 1000:.1f} ms). "
            + (f"At 4096² it is {big['overhead_pct']:.0f}% ({big.get('paired_overhead_pct', float('nan')):.0f}% per call, "
               f"{big['blender_side_s']:.2f} s): float32 RGBA copies of three 4096² maps move about 0.8 GB, and memory "
               "bandwidth, not arithmetic, sets their pace. " if big else "")
            + "An earlier run of this bench timed inference on a second ONNX Runtime session and got 14.6% at 1024²: "
            "two sessions mean two thread pools whose threads spin after each run, and on two cores they slow each "
            "other's next run, which Blender (one cached session) does not do; disabling spinning made the two paths "
            "time the same. Encoding the maps (PNG, EXR for height) moved out of the operator: without a UI (scripts, "
            f"`blender -b`, bake farms) it runs when the .blend is saved ({r1.get('pack_at_save_s', float('nan')):.3f} s "
            f"for {r1.get('pack_at_save_images', '?')} images at 1024²). In the UI the operator still packs at once, when "
            "the result is applied, because an unpacked generated image loses its pixels on undo/redo, colour-space "
            "change or reload (docs/blender.md, Packing): there the main thread spends about "
            f"{100 * (r1['blender_side_s'] + r1.get('pack_at_save_s', 0)) / r1['op_inference_s']:.0f}% of the inference "
            "time at 1024², while inference itself runs in a worker thread.")
        out.append("")
    return "\n".join(out)


def train_diff_text(res: dict) -> str:
    return ("What differs between the two: texgan's step includes everything `texgan train` does (in-memory crops of "
            "the exemplar, translate + colour-jitter augmentation of real and fake, lazy R1 every 16th step, the EMA of "
            "G, per-step `.item()` and log), with its default `amp` (bf16 autocast on CPUs that compute bf16 natively; "
            "and D's passes inside the R1 penalty; weights, optimiser state and the penalty's norm stay float32); the reference does the example's work only, in "
            "float32. Same G and D modules, batch, size, optimiser (Adam 2e-4, betas (0.5, 0.999)), threads and process; "
            "`--loss nonsat` is the DCGAN objective (`texgan train --arch dcgan` picks it by itself).")


def memory_text(res: dict) -> str:
    return ("The bound is the result array plus one tile: generate() allocates the result (H·W·C at the output dtype) "
            "and runs 512 px tiles with a halo, so ORT's working set stays constant. `texgan generate` writes PNGs from "
            "uint8/uint16 results (uint16 when a normal map is derived, as for the material model). A float32 result at "
            "16384² is 5.4 GB for 5 channels (3.2 GB for RGB) on its own, so float EXR output at that size cannot stay "
            "under 4 GB in one array.")


def _gain(x) -> str:
    return f"{x:.2f}×"


# The settings bench/synthesis.py compares ("what" starts with the key; g = speed of b over a) -> the note.
SETTING_NOTES = (
    ("ORT graph optimisation", lambda g, r: f"ORT graph optimisation: ORT_ENABLE_ALL runs at {_gain(g)} the speed of "
                                            "no optimisation; TextureModel keeps it on."),
    ("export graph: latent wrapped once", lambda g, r: f"Export graph: wrapping the latent once and running the convolutions unpadded "
                                  f"(export/pad_once.py; with each upsampling and its convolution as one transposed "
                                  f"convolution since the twenty-second session) runs at {_gain(g)} the speed of the trained generator exported "
                                  "as is, whose circular pad around every convolution became Slice + Concat copies of "
                                  "each feature map. Same function (export checks parity and the roll test); this is "
                                  "what `texgan export` writes."),
    ("export graph: each upsampling", lambda g, r: f"Export graph: each nearest upsampling and the 3×3 convolution "
                                                   f"after it as one stride-2 ConvTranspose (4 taps per output pixel "
                                                   f"instead of 9, no upsampled copy) runs at {_gain(g)} the speed of "
                                                   "Resize + Conv. Same function (export checks parity and the roll "
                                                   "test); this is what `texgan export` writes."),
    ("ORT intra-op threads", lambda g, r: f"ORT threads: 2 threads run at {_gain(g)} the speed of 1 thread. TextureModel "
                                          "leaves ORT's default (one per physical core); the add-on's preferences can "
                                          "lower it to keep Blender's UI responsive."),
    ("torch eager", lambda g, r: f"channels-last for eager synthesis: {_gain(g)} the speed of NCHW "
                                 + ("— worth it for `gan_core.sample`." if g > 1.05 else
                                    "— does not pay on this CPU; NCHW kept.")),
    ("session reuse", lambda g, r: f"Session reuse: a new session per 512² call costs {_gain(g)} the time of a reused "
                                   f"one (+{(r['b_s'] - r['a_s']) * 1000:.0f} ms per call). The add-on keeps sessions "
                                   "(worker.SESSIONS), `texgan generate --count` reuses one, and `library.find` caches "
                                   "model descriptions by (path, size, mtime) instead of opening a session per call."),
    ("CPU tile side", lambda g, r: f"CPU tile side: 1024 px tiles are {_gain(g)} the speed of the default 512 px at "
                                   "2048² (less halo recomputation) but need about three times the working set (~1.8 "
                                   "vs ~0.6 GB); 512 stays the default."),
)


def fast_text(res: dict) -> str:
    """What each change bought, with the number that backs it, and what the code does now."""
    tr, syn = (res.get(k) for k in ("train", "synthesis"))
    out = ["**What pays, and what texgan does**:", ""]

    if syn:
        st = {r["what"].split(",")[0]: r for r in syn["ort_settings"]}
        for key, r in st.items():
            note = next((fn for prefix, fn in SETTING_NOTES if key.startswith(prefix)), None)
            if note is not None:
                out.append("- " + note(r["b_over_a"], r))
        to = syn.get("tiled_vs_oneshot", [])
        if to:
            out.append("- Tiled vs one-shot: " + ", ".join(f"{r['size']}² tiled takes {r['tiled_over_oneshot']:.2f}× the "
                                                          "one-shot time" for r in to) + "; tiling is what bounds memory.")
    if tr:
        d = tr["dcgan"]
        t = (tr.get("tileable") or {}).get("steps_per_s", {})
        out.append(f"- bf16 autocast on the CPU: {_gain(d['bf16_gain_ref'])} on the reference loop, {_gain(d['amp_gain_texgan'])} "
                   "on texgan's DCGAN step"
                   + (f", {_gain(t['default'] / t['fp32'])} on the default tileable config" if "fp32" in t else "")
                   + ". texgan's `amp` (on by default) enables it where the CPU computes bf16 natively; its effect on "
                   "quality per second is section 2.")
        out.append("- One fake per step: with one critic step the G step reuses the D step's fake (as the example does) "
                   "instead of running G again.")
        if "plain_upsampling" in t:
            out.append(f"- G's upsampling levels as one stride-2 transposed convolution in training (`models.upsampled_conv`): "
                       f"{_gain(t['default'] / t['plain_upsampling'])} on the default tileable config against nearest "
                       "upsampling + 3x3 conv, the same function (4 taps per output pixel instead of 9, no upsampled copy; "
                       "a test checks image and gradients). Export and sampling keep the plain form.")
        out.append(f"- Fused Adam (`Adam(fused=True)`): {_gain(d['fused_gain_ref'])} on the reference loop"
                   + (f", {_gain(t['fused'] / t['default'])} on the default tileable config" if "fused" in t else "")
                   + ". " + ("Not applied: it pays on the large DCGAN models only, not on the default config."
                             if d["fused_gain_ref"] > 1.05 and t.get("fused", 0) <= 1.03 * t.get("default", 1) else
                             "Worth applying." if d["fused_gain_ref"] > 1.05 else "Within noise on these small models; not applied."))
        out.append(f"- Channels-last G and D: {_gain(d['channels_last_gain_ref'])} on the reference loop"
                   + (f", {_gain(t['channels_last'] / t['default'])} on the default tileable config" if "channels_last" in t else "")
                   + ". " + ("Worth applying." if d["channels_last_gain_ref"] > 1.05 and t.get("channels_last", 0) > 1.03 * t.get("default", 1)
                             else "Not applied: it does not pay on both."))
        dp = tr.get("data_path", {})
        if dp and "64" in dp:
            step_ms = 1000 * tr["batch"] / d["images_per_s"]["texgan"]
            r = dp["64"]
            out.append(f"- Crops and augmentation: at batch 64 crops take {r['crop_loop_ms']:.1f} ms and augment "
                       f"{r['augment_ms']:.1f} ms of a {step_ms:.0f} ms step. Crops are cut from an in-memory tensor "
                       "(no per-step decoding); a vectorised gather "
                       + ("is faster" if r["crop_vectorised_ms"] < r["crop_loop_ms"] else "is not faster")
                       + " but the data path is too small a share of a step to matter.")
        out.append("- `torch.compile`: not used. Compiling the generator did not finish within a 30 s probe on this 2-core "
                   "machine, so it cannot pay back in CPU runs of a few minutes; worth measuring on a GPU machine.")
    return "\n".join(out)
