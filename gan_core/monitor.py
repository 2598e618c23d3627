"""What training shows while it runs: log.csv rows, sample grids, the loss plot and the quality probe.

Rank 0 of the training loop (train.py) calls these; nothing here changes the models.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .config import TrainConfig
from .data import to_uint8_image
from .metrics import QualityProbe

LOG_FIELDS = ["step", "seconds", "loss_d", "loss_g", "penalty", "d_real", "d_fake", "images_per_s", "swd_ratio", "swd_worst"]


class Probe:
    """The SWD ratio of the EMA generator on fixed latents, every `quality_every` steps (rank 0):
    a few crops at the training resolution, so a user sees when more training stops paying.

    The crops are cut from two large canvases, not painted one crop-sized torus each: a torus of
    size/8 cells is narrower than G's field, and large structure scores better there than in the
    textures G paints later (foliage 5.6 against 7.7 at the finest level), at the same cost."""

    def __init__(self, quality: QualityProbe, G_ema, z: torch.Tensor, crop: int):
        self.quality, self.G_ema, self.z, self.crop, self.last = quality, G_ema, z, crop, None

    @torch.no_grad()
    def measure(self) -> tuple[float, float]:
        canvas = (self.G_ema(self.z, full_res=False).float().cpu() + 1) / 2
        c = self.crop
        crops = canvas.unfold(2, c, c).unfold(3, c, c)            # [B, C, rows, cols, c, c]
        crops = crops.permute(0, 2, 3, 1, 4, 5).reshape(-1, canvas.shape[1], c, c)
        self.last = self.quality.ratio(crops)
        return self.last


def make_probe(cfg: TrainConfig, exemplars, G_ema, lh: int, lw: int) -> Probe | None:
    if not cfg.quality_every or cfg.arch == "dcgan" or cfg.conditional:
        return None
    image = max(exemplars.images, key=lambda im: im.shape[1] * im.shape[2])
    try:
        quality = QualityProbe((image.float().cpu() + 1) / 2, cfg.size, seed=cfg.seed)
    except ValueError:   # exemplar too small for the probe's crops: train without it
        return None
    z = G_ema.sample_latent(2, 4 * lh, 4 * lw, torch.Generator().manual_seed(cfg.seed + 5))   # 2 x 16 crops
    return Probe(quality, G_ema, z, cfg.size)


def drop_log_rows_after(log_csv: Path, step: int) -> None:
    if not log_csv.exists():
        return
    with log_csv.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with log_csv.open("w", newline="") as f:
        w = csv.DictWriter(f, LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)


@torch.no_grad()
def save_previews(G_ema, fixed_z: torch.Tensor, folder: Path, step: int, classes: torch.Tensor | None = None) -> None:
    """A 4x2 grid of EMA samples and one sample tiled 2x2 (a seam shows as a cross);
    for a conditional model the grid cycles through the classes."""
    imgs = (G_ema(fixed_z, classes) if classes is not None else G_ema(fixed_z)).float().cpu()
    tiles = [to_uint8_image(im) for im in imgs]
    rows = [np.concatenate(tiles[i:i + 4], axis=1) for i in range(0, len(tiles), 4)]
    Image.fromarray(np.concatenate(rows, axis=0)).save(folder / f"grid_{step:06d}.png")
    Image.fromarray(np.tile(tiles[0], (2, 2, 1))).save(folder / f"tiled_{step:06d}.png")
    extra = imgs.shape[1] - 3
    if extra > 0:  # show extra maps (height, roughness) next to each other for the first sample
        maps = [to_uint8_image(imgs[0, 3 + i:4 + i]) for i in range(extra)]
        Image.fromarray(np.concatenate(maps, axis=1)).save(folder / f"maps_{step:06d}.png")


def plot_losses(log_csv: Path, out_png: Path) -> None:
    """Loss curves, and beside them the SWD ratio probes (log scale; 1 = as good as the exemplar)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with log_csv.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    probed = [r for r in rows if r.get("swd_ratio")]
    fig, axes = plt.subplots(1, 2 if probed else 1, figsize=(11 if probed else 7, 3.5), dpi=100, squeeze=False)
    ax = axes[0, 0]
    for key in ("loss_d", "loss_g", "penalty"):
        ax.plot(steps, [float(r[key]) for r in rows], label=key, linewidth=1)
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    if probed:
        ax = axes[0, 1]
        ps = [int(r["step"]) for r in probed]
        ax.plot(ps, [float(r["swd_ratio"]) for r in probed], label="SWD ratio (mean of levels)", linewidth=1)
        ax.plot(ps, [float(r["swd_worst"]) for r in probed], label="SWD ratio (worst level)", linewidth=1)
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    tmp = out_png.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out_png)
