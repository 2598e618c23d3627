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
from report import report  # noqa: E402

SECTIONS = ("synthesis", "train", "blender", "ttq", "memory", "gpu")
DOCS = ROOT / "docs"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_blender(quick: bool) -> dict:
    _, onnx_path = model_for("material")
    sizes, reps = ("256,1024", 2) if quick else ("1024,4096", 7)   # 4096^2 is capped at 2 rounds
    out = WORK / "blender.json"
    cmd = [sys.executable, str(ROOT / "bench" / "blender_overhead.py"), str(onnx_path), sizes, str(reps), str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    for line in p.stdout.splitlines():
        if line.startswith("blender:"):
            log(line)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.read_text())


def cpu_label(m: dict) -> str:
    """Which CPU a section ran on: these machines differ most in AVX-512 (bf16 autocast runs natively with it)."""
    return f"{m.get('cpu')}, {'AVX-512' if 'avx512f' in m.get('cpu_flags', []) else 'no AVX-512'}"


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
        model_for("material")
        model_for("rgb")
        for s in only:
            log(f"== {s}")
            try:
                res[s] = measure(s, a.quick)
                res[s]["_section"]["command"] = cmd
                res[s]["_section"]["commit"] = res["machine"].get("git_commit")
                res[s]["_section"]["cpu"] = cpu_label(res["machine"])
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
