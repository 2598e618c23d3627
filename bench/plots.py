"""The benchmark plots (training, synthesis, time to quality) saved into docs/ beside benchmarks.md."""
from __future__ import annotations

from common import ROOT, WORK

DOCS = ROOT / "docs"


def plots(res: dict, suffix: str) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    made = {}

    def save(fig, key: str, stem: str) -> None:
        fig.tight_layout()
        name = f"{stem}{suffix}.png"
        fig.savefig(DOCS / name if not suffix else WORK / name)
        plt.close(fig)
        made[key] = name

    ttq = res.get("ttq")
    if ttq and ttq.get("curves"):
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
        for name, c in ttq["curves"].items():
            pts = c["points"]
            ax.plot([q["seconds"] for q in pts], [q["swd_ratio"] for q in pts], "o-",
                    label=f"{name} ({c['threads']} thread)")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="floor (held-out real = 1.0)")
        ax.set_xscale("log")
        ax.set_xlabel("training seconds (CPU, one core per run)")
        ax.set_ylabel("SWD / floor (lower is better)")
        ax.set_title("Time to quality, default config, bricks material")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        save(fig, "ttq", "bench_time_to_quality")
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
        save(fig, "synthesis", "bench_synthesis")
    tr = res.get("train")
    if tr and tr.get("dcgan"):
        ips = tr["dcgan"]["images_per_s"]
        labels = {"ref": "reference loop", "ref_fused": "ref + fused Adam", "ref_cl": "ref + channels-last",
                  "ref_bf16": "ref + bf16 autocast",
                  "texgan": "texgan --arch dcgan", "texgan_fp32": "texgan --no-amp (fp32)"}
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
        keys = [k for k in labels if k in ips]
        ax.barh([labels[k] for k in keys], [ips[k] for k in keys], color=["C0" if k.startswith("ref") else "C1" for k in keys])
        ax.set_xlabel("images / s (batch 64, 64 px, CPU)")
        ax.set_title("DCGAN training throughput")
        ax.grid(axis="x", alpha=0.3)
        save(fig, "train", "bench_training")
    return made
