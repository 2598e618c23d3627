"""Synthesis speed: ONNX Runtime vs PyTorch eager, tiled vs one-shot, FLOP/s vs matmul, ORT settings,
peak memory at huge sizes (one subprocess per size).

    python bench/synthesis.py [--quick] [--out results.json]
    python bench/synthesis.py --mem-child MODEL.onnx SIZE DTYPE [TILE]   (prints one JSON line)

Model: the default tileable generator (TrainConfig() widths), trained for one step and exported
with export.onnx_export.export_run; weights do not change the speed. ORT and torch eager get the
same latent (texgan-latent/1 from addon.core.latent) and compute the same function (the exported
graph maps tanh to [0, 1]; the eager side does the same y*0.5+0.5).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, WORK, interleave, load_avg, median, model_for, now, save_json  # noqa: E402


# ------------------------------------------------------------------------------------------ FLOPs

def conv_macs_per_pixel(G) -> dict:
    """Multiply-accumulates per output pixel of every Conv2d in G, from the module shapes
    (a forward pass on an 8x8-cell latent records each conv's output size). In eval mode, as
    synthesis runs it (training computes the upsampling levels another way)."""
    import torch
    from torch import nn
    records = []

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        records.append((mod.in_channels // mod.groups * k * out[0].numel(), mod.in_channels, mod.out_channels))

    hooks = [m.register_forward_hook(hook) for m in G.modules() if isinstance(m, nn.Conv2d)]
    cells = 8
    with torch.inference_mode():
        G.eval()(torch.zeros(1, G.spec.latent_channels, cells, cells))
    for h in hooks:
        h.remove()
    pixels = (cells * G.scale) ** 2
    total = sum(r[0] for r in records)
    return {"macs_per_pixel": total / pixels, "convs": len(records),
            "per_conv": [{"cin": r[1], "cout": r[2], "macs_per_pixel": r[0] / pixels} for r in records]}


def matmul_peak(n: int, reps: int) -> dict:
    """Dense float32 matmul FLOP/s of this machine (torch, all its threads): best and median of reps."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    torch.matmul(a, b, out=c)
    ts = []
    for _ in range(reps):
        t0 = now()
        torch.matmul(a, b, out=c)
        ts.append(now() - t0)
    flop = 2.0 * n ** 3
    return {"n": n, "reps": reps, "best_gflops": flop / min(ts) / 1e9, "median_gflops": flop / median(ts) / 1e9,
            "threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------------------ memory child

def mem_child(model: str, size: int, dtype: str, tile: int | None) -> None:
    import numpy as np
    from addon.core.model import TextureModel

    def hwm_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    m = TextureModel(model, device="cpu")
    base = hwm_mb()
    t0 = now()
    out = m.generate(size, size, seed=0, dtype=np.dtype(dtype), tile=tile)
    secs = now() - t0
    print(json.dumps({"size": size, "dtype": dtype, "channels": len(m.channels), "tile": tile,
                      "peak_mb": hwm_mb(), "after_session_mb": base, "result_mb": out.nbytes / 2 ** 20,
                      "seconds": secs}))


def measure_memory(model: Path, size: int, dtype: str, tile: int | None = None, timeout: float = 900) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--mem-child", str(model), str(size), dtype]
    if tile:
        cmd.append(str(tile))
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    if p.returncode != 0:
        return {"size": size, "dtype": dtype, "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ main bench

# A fresh ORT session's first calls are slow on these CPUs (2.4 s, then 0.85 s, before ~0.5 s at 1024²: its
# memory arena grows and kernels pack their weights), so session-against-session rows warm up three times.
WARM_SESSION = 3


def graphs_row(what: str, a: str, a_path: Path, b: str, b_path: Path, feed: dict, reps: int) -> dict:
    """Two exported graphs of the same weights, one ORT session each (default options), interleaved."""
    import onnxruntime as ort
    from addon.core.runtime import _session_options
    sa, sb = (ort.InferenceSession(str(p), sess_options=_session_options(True), providers=["CPUExecutionProvider"])
              for p in (a_path, b_path))
    t = interleave({a: lambda: sa.run(None, feed), b: lambda: sb.run(None, feed)}, reps, warmup=WARM_SESSION)
    return {"what": what, "a": a, "b": b, "a_s": median(t[a]), "b_s": median(t[b])}


def run(quick: bool = False, log=print) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    from addon.core.latent import sample_latent
    from addon.core.model import TextureModel
    from addon.core.runtime import _session_options
    from gan_core.sample import load_generator

    res: dict = {"quick": quick}
    run_dir, onnx_path = model_for("material")
    rgb_run, rgb_onnx = model_for("rgb")
    G, _ = load_generator(run_dir)
    ort_model = TextureModel(onnx_path, device="cpu")
    s = ort_model.scale
    flops = conv_macs_per_pixel(G)
    res["model"] = {"channels": ort_model.channels, "scale": s, "latent_channels": ort_model.latent_channels,
                    "g_widths": list(G.spec.widths), "params": sum(p.numel() for p in G.parameters()),
                    "macs_per_pixel": flops["macs_per_pixel"], "per_conv": flops["per_conv"],
                    "onnx_bytes": onnx_path.stat().st_size, "ort_default_intra_threads": "ORT default (physical cores)",
                    "torch_threads": torch.get_num_threads()}
    flop_per_px = 2.0 * flops["macs_per_pixel"]
    log(f"synthesis: model {res['model']['params']} params, {flops['macs_per_pixel']:.0f} MAC/pixel")

    # --- machine peak
    res["matmul"] = matmul_peak(2048 if quick else 4096, 3 if quick else 5)
    log(f"synthesis: matmul peak {res['matmul']['best_gflops']:.1f} GFLOP/s")

    # --- ORT vs torch eager, one-shot, same latent
    sizes = [256, 512] if quick else [512, 2048, 4096]
    reps = {512: 5, 1024: 3, 2048: 3, 4096: 2} if not quick else {256: 2, 512: 2}
    res["ort_vs_torch"] = []
    for size in sizes:
        z = sample_latent(ort_model.metadata, 0, size // s, size // s)
        zt = torch.from_numpy(z)

        def torch_eager():
            with torch.inference_mode():
                return (G(zt) * 0.5 + 0.5)

        def ort_run():
            return ort_model.run_latent(z)

        # parity (same weights, same latent): the comparison is of the same computation
        a, b = ort_run(), torch_eager().numpy()
        err = float(np.abs(a - b).max())
        del a, b
        t = interleave({"ort": ort_run, "torch": torch_eager}, reps[size], warmup=0)
        mp = size * size / 1e6
        row = {"size": size, "reps": reps[size], "ort_s": median(t["ort"]), "torch_s": median(t["torch"]),
               "ort_all": t["ort"], "torch_all": t["torch"], "max_abs_diff": err}
        row["ort_mpix_s"] = mp / row["ort_s"]
        row["torch_mpix_s"] = mp / row["torch_s"]
        row["ratio"] = row["torch_s"] / row["ort_s"]
        row["ort_gflops"] = flop_per_px * size * size / row["ort_s"] / 1e9
        row["torch_gflops"] = flop_per_px * size * size / row["torch_s"] / 1e9
        res["ort_vs_torch"].append(row)
        log(f"synthesis: {size}^2 ORT {row['ort_s']:.3f}s torch {row['torch_s']:.3f}s ratio {row['ratio']:.2f} "
            f"ORT {row['ort_gflops']:.1f} GFLOP/s")

    # --- tiled (default tile, as texgan generate / Blender run it) vs one-shot, through generate()
    tsizes = [1024] if quick else [2048, 4096]
    res["tiled_vs_oneshot"] = []
    for size in tsizes:
        t = interleave({"tiled": lambda: ort_model.generate(size, size, seed=0),
                        "oneshot": lambda: ort_model.generate(size, size, seed=0, tile=size)},
                       1 if quick else 2 if size >= 4096 else 3,
                       warmup=0 if size >= 4096 else 1)   # 4096^2: both shapes already ran just before
        row = {"size": size, "tile": 512, "tiled_s": median(t["tiled"]), "oneshot_s": median(t["oneshot"]),
               "tiled_all": t["tiled"], "oneshot_all": t["oneshot"]}
        row["tiled_over_oneshot"] = row["tiled_s"] / row["oneshot_s"]
        row["tiled_mpix_s"] = size * size / 1e6 / row["tiled_s"]
        # useful-work FLOP/s of the tiled path (halo recomputation counts as overhead)
        row["tiled_gflops"] = flop_per_px * size * size / row["tiled_s"] / 1e9
        res["tiled_vs_oneshot"].append(row)
        log(f"synthesis: generate {size}^2 tiled {row['tiled_s']:.2f}s one-shot {row['oneshot_s']:.2f}s")

    # --- ORT settings (each pair interleaved)
    tog = []
    size = 512 if quick else 1024
    z = sample_latent(ort_model.metadata, 0, size // s, size // s)
    sess_opt = ort.InferenceSession(str(onnx_path), sess_options=_session_options(True), providers=["CPUExecutionProvider"])
    sess_noopt = ort.InferenceSession(str(onnx_path), sess_options=_session_options(False), providers=["CPUExecutionProvider"])
    feed = {"latent": z}
    t = interleave({"on": lambda: sess_opt.run(None, feed), "off": lambda: sess_noopt.run(None, feed)},
                   7 if not quick else 2, warmup=WARM_SESSION)
    tog.append({"what": f"ORT graph optimisation (ORT_ENABLE_ALL vs ORT_DISABLE_ALL), run {size}^2",
                "a": "on", "b": "off", "a_s": median(t["on"]), "b_s": median(t["off"])})
    del sess_opt, sess_noopt

    # The export graph: latent wrapped once + unpadded convs (export/pad_once.py) vs the trained
    # generator exported as is (a Slice + Concat circular pad around every convolution).
    from export.onnx_export import export_run
    per_conv = WORK / "material_pad_per_conv.onnx"
    export_run(run_dir, per_conv, name="bench-material-pad-per-conv", force=True, wrap_once=False)
    graph_reps = 7 if not quick else 2
    tog.append(graphs_row(f"export graph: latent wrapped once vs a circular pad per conv, run {size}^2",
                          "wrapped once", onnx_path, "pad per conv", per_conv, feed, graph_reps))

    # Each nearest upsampling + 3x3 conv as one stride-2 ConvTranspose (what export writes) vs the two ops.
    from export.pad_once import PadOnceGenerator
    resize_conv = WORK / "material_resize_conv.onnx"
    PadOnceGenerator.transposed_upsampling = False
    try:
        export_run(run_dir, resize_conv, name="bench-material-resize-conv", force=True)
    finally:
        PadOnceGenerator.transposed_upsampling = True
    tog.append(graphs_row(f"export graph: each upsampling + conv as one ConvTranspose vs Resize + Conv, run {size}^2",
                          "ConvTranspose", onnx_path, "Resize + Conv", resize_conv, feed, graph_reps))

    m1 = TextureModel(onnx_path, device="cpu", threads=1)
    m2 = TextureModel(onnx_path, device="cpu", threads=2)
    t = interleave({"2": lambda: m2.run_latent(z), "1": lambda: m1.run_latent(z)}, 3 if not quick else 2)
    tog.append({"what": f"ORT intra-op threads, run {size}^2", "a": "2 threads", "b": "1 thread",
                "a_s": median(t["2"]), "b_s": median(t["1"])})
    del m1, m2

    # torch eager, contiguous vs channels-last (the PyTorch side of "channels-last memory")
    G_cl = copy.deepcopy(G).to(memory_format=torch.channels_last)
    zt = torch.from_numpy(z)
    zt_cl = zt.contiguous(memory_format=torch.channels_last)

    def eager(model, x):
        with torch.inference_mode():
            return model(x)

    t = interleave({"cl": lambda: eager(G_cl, zt_cl), "nchw": lambda: eager(G, zt)}, 3 if not quick else 2)
    tog.append({"what": f"torch eager synthesis memory format, G(z) {size}^2", "a": "channels_last", "b": "contiguous (NCHW)",
                "a_s": median(t["cl"]), "b_s": median(t["nchw"])})
    del G_cl

    def fresh():
        return TextureModel(onnx_path, device="cpu").generate(512, 512, seed=0)

    # The default generator's noise maps (--g-noise 1) against the same generator without them: the
    # noise travels as 84 more local latent channels per cell, drawn by the latent recipe.
    _, plain_onnx = model_for("material", "nonoise", g_noise=0)
    plain_model = TextureModel(plain_onnx, device="cpu")
    nsize = 1024 if quick else 2048
    t = interleave({"noise": lambda: ort_model.generate(nsize, nsize, seed=0),
                    "plain": lambda: plain_model.generate(nsize, nsize, seed=0)}, 2 if quick else 3)
    tog.append({"what": f"noise maps (default, {ort_model.latent_channels} latent channels) vs none "
                        f"({plain_model.latent_channels}), generate {nsize}^2",
                "a": "no noise maps", "b": "noise maps (default)", "a_s": median(t["plain"]), "b_s": median(t["noise"])})
    del plain_model

    t = interleave({"reuse": lambda: ort_model.generate(512, 512, seed=0), "new": fresh}, 5 if not quick else 2)
    tog.append({"what": "session reuse vs a new session per call, generate 512^2", "a": "reused session",
                "b": "new session per call", "a_s": median(t["reuse"]), "b_s": median(t["new"])})
    if not quick:
        t = interleave({"512": lambda: ort_model.generate(2048, 2048, seed=0, tile=512),
                        "1024": lambda: ort_model.generate(2048, 2048, seed=0, tile=1024)}, 2)
        tog.append({"what": "CPU tile side, generate 2048^2", "a": "tile 1024", "b": "tile 512 (default)",
                    "a_s": median(t["1024"]), "b_s": median(t["512"])})
    for row in tog:
        row["b_over_a"] = row["b_s"] / row["a_s"]
        log(f"synthesis: {row['what']}: {row['a']} {row['a_s']:.3f}s, {row['b']} {row['b_s']:.3f}s")
    res["ort_settings"] = tog
    del G, ort_model
    res["load_avg_end"] = load_avg()
    return res


def run_gpu(quick: bool = False, log=print) -> dict:
    """CUDA rows: ORT fp32 vs fp16 (export --fp16), ORT vs torch eager on the GPU, end-to-end generate()
    at 4096^2. Only where ORT's CUDA provider and torch.cuda both work; otherwise says why not.
    (Written without a GPU at hand: it has not run yet.)"""
    import torch
    from addon.core.latent import sample_latent
    from addon.core.model import TextureModel
    from addon.core.runtime import cuda_unavailable_reason
    from export.onnx_export import export_run
    from gan_core.sample import load_generator
    reason = cuda_unavailable_reason() or (None if torch.cuda.is_available() else "torch sees no CUDA device")
    if reason:
        return {"available": False, "reason": reason}
    run_dir, onnx32 = model_for("material")
    onnx16 = WORK / "material_fp16.onnx"
    if not onnx16.exists():
        export_run(run_dir, onnx16, fp16=True, name="bench-material-fp16")
    m32, m16 = TextureModel(onnx32, device="cuda"), TextureModel(onnx16, device="cuda")
    if m32.device != "CUDA" or m16.device != "CUDA":
        return {"available": False, "reason": m32.fallback_reason or m16.fallback_reason or "CUDA provider did not start"}
    G, _ = load_generator(run_dir, device="cuda")
    s = m32.scale
    rows = []
    for size in ([1024] if quick else [1024, 2048, 4096]):
        z = sample_latent(m32.metadata, 0, size // s, size // s)
        zt = torch.from_numpy(z).cuda()

        def eager():
            with torch.inference_mode():
                y = (G(zt) * 0.5 + 0.5).cpu()
            return y

        t = interleave({"ort32": lambda: m32.run_latent(z), "ort16": lambda: m16.run_latent(z), "torch32": eager,
                        "gen32": lambda: m32.generate(size, size, seed=0), "gen16": lambda: m16.generate(size, size, seed=0)},
                       3 if quick else 5)
        row = {"size": size, **{k + "_s": median(v) for k, v in t.items()}}
        rows.append(row)
        log(f"gpu: {size}^2 " + ", ".join(f"{k} {median(v):.4f}s" for k, v in t.items()))
    return {"available": True, "device": torch.cuda.get_device_name(0), "providers": m32.providers, "rows": rows}


def run_memory(quick: bool = False, log=print) -> dict:
    """Peak resident memory of `TextureModel.generate` at huge sizes, one fresh subprocess per size
    (VmHWM: the process's high-water mark, session and result array included)."""
    _, onnx_path = model_for("material")
    _, rgb_onnx = model_for("rgb")
    mem = []
    plan = ([("material", 1024, "uint16")] if quick else
            [("rgb", 8192, "uint8"), ("material", 8192, "uint16"), ("material", 16384, "uint16"),
             ("rgb", 16384, "uint8")])
    skip_16k = os.environ.get("TEXGAN_BENCH_SKIP_16K") == "1"
    # TEXGAN_BENCH_DEADLINE=HH:MM (UTC): do not start a 16384^2 row after it (each takes minutes on 2 cores)
    deadline = os.environ.get("TEXGAN_BENCH_DEADLINE")
    for kind, size, dtype in plan:
        late = bool(deadline) and time.strftime("%H:%M", time.gmtime()) >= deadline
        if size == 16384 and (skip_16k or late):
            why = "TEXGAN_BENCH_SKIP_16K=1" if skip_16k else f"past the run's deadline {deadline} UTC"
            mem.append({"kind": kind, "size": size, "dtype": dtype, "error": f"skipped ({why})"})
            continue
        row = measure_memory(rgb_onnx if kind == "rgb" else onnx_path, size, dtype)
        row["kind"] = kind
        mem.append(row)
        log(f"memory: {kind} {size}^2 {dtype}: {row.get('peak_mb', float('nan')):.0f} MB peak "
            f"in {row.get('seconds', float('nan')):.1f}s")
    return {"rows": mem, "load_avg_end": load_avg()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(WORK / "synthesis.json"))
    ap.add_argument("--mem-child", nargs="+")
    a = ap.parse_args(argv)
    if a.mem_child:
        model, size, dtype = a.mem_child[:3]
        tile = int(a.mem_child[3]) if len(a.mem_child) > 3 else None
        mem_child(model, int(size), dtype, tile)
        return 0
    res = run(a.quick)
    res["memory"] = run_memory(a.quick)
    save_json(Path(a.out), res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
