"""The training loop: exemplar -> run directory.

Phases of one step, in order (names match the log columns):
  D    discriminator on augmented real crops vs. detached fakes
  R1   lazy R1 penalty on reals every `r1_every` steps (or WGAN-GP / clipping)
  G    generator through the discriminator
  EMA  exponential moving average of G's weights (what gets sampled and exported)

Run directory:
  config.json               the resolved configuration
  checkpoint.safetensors    G, EMA G, D, optimisers, RNG, step (atomic; `--resume` continues it)
  log.csv                   one row per `log_every` steps
  loss.png                  loss curves
  samples/grid_STEP.png     EMA samples from fixed latents (compare across steps)
  samples/tiled_STEP.png    one sample tiled 2x2: a seam would show as a cross
"""
from __future__ import annotations

import copy
import csv
import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from . import __version__
from .checkpoint import CHECKPOINT_NAME, CheckpointError, load_optimizers, module_state, read_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .data import CropSampler, augment, color_channel_count, load_exemplars, to_uint8_image, warn
from .losses import OBJECTIVES, feature_matching_loss, gradient_penalty, r1_penalty
from .models import DiscriminatorSpec, GeneratorSpec, PatchDiscriminator, TextureGenerator, update_ema

LOG_FIELDS = ["step", "seconds", "loss_d", "loss_g", "penalty", "d_real", "d_fake", "images_per_s"]


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but this torch build sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cpu")


def build_models(cfg: TrainConfig, out_channels: int):
    if cfg.arch == "dcgan":
        from .dcgan import build_dcgan
        return build_dcgan(cfg, out_channels)
    g_spec = GeneratorSpec(cfg.local_channels, cfg.global_channels, cfg.periodic_channels, out_channels, tuple(cfg.g_widths))
    d_spec = DiscriminatorSpec(out_channels, tuple(cfg.d_widths), cfg.minibatch_std)
    return TextureGenerator(g_spec), PatchDiscriminator(d_spec)


def ema_beta(step: int, cfg: TrainConfig) -> float:
    """EMA decay with a half-life that ramps up to cfg.ema_half_life_steps (StyleGAN2-ADA style)."""
    half_life = min(cfg.ema_half_life_steps, 0.1 * step + 1)
    return 0.5 ** (1.0 / max(half_life, 1e-8))


class StopFlag:
    """SIGTERM / Ctrl-C set a flag; the loop finishes its step and checkpoints before leaving."""

    def __init__(self):
        self.reason = ""
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no signal handling
                pass
        return self

    def _handle(self, signum, frame):
        if self.reason:  # second Ctrl-C: the user means it
            raise KeyboardInterrupt
        self.reason = "interrupted" if signum == signal.SIGINT else "terminated"

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass
class TrainResult:
    run: Path
    step: int
    stopped_by: str   # "steps" | "time" | "interrupted" | "terminated"
    seconds: float


def train(cfg: TrainConfig, show_progress: bool = True) -> TrainResult:
    cfg.validate()
    run = Path(cfg.out)
    ckpt_path = run / CHECKPOINT_NAME
    if not cfg.resume and ckpt_path.exists():
        raise ConfigError(f"{run} already holds a training run; pass --resume to continue it or choose another --out")
    if cfg.resume and not ckpt_path.exists():
        raise ConfigError(f"--resume: no checkpoint in {run}")

    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    exemplars = load_exemplars(cfg.data)
    for n in exemplars.notices:
        warn(n)
    channels = exemplars.channels
    n_color = color_channel_count(channels)
    data_rng = torch.Generator().manual_seed(cfg.seed + 1)
    latent_rng = torch.Generator().manual_seed(cfg.seed + 2)
    aug_rng = torch.Generator().manual_seed(cfg.seed + 3)
    sampler = CropSampler(exemplars, cfg.size, device, cfg.wrap_crops, cfg.flip_rot, data_rng)

    G, D = build_models(cfg, len(channels))
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    objective = OBJECTIVES[cfg.loss]
    step, seconds_before = 0, 0.0

    if cfg.resume:
        tensors, info = read_checkpoint(ckpt_path)
        if info["channels"] != channels:
            raise ConfigError(f"--resume: the run was trained on channels {info['channels']}, this data has {channels}")
        saved = TrainConfig.from_dict(info["config"])
        if (saved.arch, saved.g_widths, saved.d_widths, saved.local_channels) != (cfg.arch, cfg.g_widths, cfg.d_widths, cfg.local_channels):
            raise ConfigError("--resume: model shape flags differ from the run's; keep arch/widths/channels as they were")
        G.load_state_dict(module_state(tensors, "G"))
        G_ema.load_state_dict(module_state(tensors, "G_ema"))
        D.load_state_dict(module_state(tensors, "D"))
        load_optimizers(tensors, info, opt_g, opt_d)
        for gen, key in ((data_rng, "data"), (latent_rng, "latent"), (aug_rng, "aug")):
            gen.set_state(tensors[f"rng.{key}"])
        torch.set_rng_state(tensors["rng.torch"])
        step, seconds_before = info["step"], info["seconds"]

    run.mkdir(parents=True, exist_ok=True)
    (run / "samples").mkdir(exist_ok=True)
    (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scale = G.scale
    lh = lw = cfg.size // scale
    fixed_z = G_ema.sample_latent(8, 2 * lh, 2 * lw, torch.Generator().manual_seed(cfg.seed + 4))

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp)

    def fakes(batch):
        return G(G.sample_latent(batch, lh, lw, latent_rng))

    def aug(x):
        return augment(x, cfg.translate, cfg.color_jitter, n_color, aug_rng)

    def checkpoint(stopped_by: str = ""):
        info = {"texgan_version": __version__, "step": step, "seconds": seconds_before + (time.time() - t_start),
                "config": cfg.to_dict(), "channels": channels, "exemplars": exemplars.names,
                "g_spec": G.spec.to_dict(), "d_spec": D.spec.to_dict(), "arch": cfg.arch,
                "receptive_radius_cells": G.receptive_radius_cells(), "stopped_by": stopped_by}
        rng = {"data": data_rng.get_state(), "latent": latent_rng.get_state(), "aug": aug_rng.get_state(),
               "torch": torch.get_rng_state()}
        save_checkpoint(ckpt_path, G=G, G_ema=G_ema, D=D, opt_g=opt_g, opt_d=opt_d, rng=rng, info=info)

    if cfg.resume:
        drop_log_rows_after(run / "log.csv", step)  # rows logged after the last checkpoint are redone
    log_file = (run / "log.csv").open("a", newline="")
    log = csv.DictWriter(log_file, LOG_FIELDS)
    if log_file.tell() == 0:
        log.writeheader()

    t_start = time.time()
    deadline = t_start + cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
    stopped_by = "steps"
    bar = tqdm(total=cfg.steps, initial=step, disable=not show_progress, unit="step", dynamic_ncols=True)
    window_t, window_imgs = time.time(), 0
    with StopFlag() as stop:
        while step < cfg.steps:
            if stop.reason:
                stopped_by = stop.reason
                break
            if time.time() >= deadline:
                stopped_by = "time"
                break
            G.train(), D.train()

            # --- D: real vs fake ---------------------------------------------------
            for _ in range(cfg.n_critic):
                real = sampler.batch(cfg.batch)
                with torch.no_grad(), autocast():
                    fake = fakes(cfg.batch)
                with autocast():
                    d_real, d_fake = D(aug(real)), D(aug(fake.float()))
                    if cfg.loss in ("nonsat", "minimax") and cfg.label_smoothing > 0:
                        loss_d = objective.d_loss(d_real.float(), d_fake.float(), 1.0 - cfg.label_smoothing)
                    else:
                        loss_d = objective.d_loss(d_real.float(), d_fake.float())
                penalty = torch.zeros((), device=device)
                if cfg.loss == "wgan-gp":
                    penalty = gradient_penalty(D, aug(real), aug(fake.float()), aug_rng)
                opt_d.zero_grad(set_to_none=True)
                (loss_d + cfg.gp_weight * penalty).backward()
                opt_d.step()
                if cfg.loss == "wgan":
                    with torch.no_grad():
                        for p in D.parameters():
                            p.clamp_(-cfg.wgan_clip, cfg.wgan_clip)

            # --- R1: lazy regularisation on reals (not for the Wasserstein critics) -------
            if cfg.r1_gamma > 0 and cfg.loss not in ("wgan", "wgan-gp") and step % cfg.r1_every == 0:
                real_r1 = aug(sampler.batch(cfg.batch)).detach().requires_grad_(True)
                penalty = r1_penalty(D(real_r1), real_r1)
                opt_d.zero_grad(set_to_none=True)
                (penalty * (cfg.r1_gamma / 2) * cfg.r1_every).backward()
                opt_d.step()

            # --- G: fool D -----------------------------------------------------------
            with autocast():
                fake = fakes(cfg.batch)
                fake_aug = aug(fake.float())
                loss_g = objective.g_loss(D(fake_aug).float())
                if cfg.feature_matching > 0:
                    with torch.no_grad():
                        real_feat = D.features(aug(real)).float()
                    loss_g = loss_g + cfg.feature_matching * feature_matching_loss(real_feat, D.features(fake_aug).float())
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()

            # --- EMA --------------------------------------------------------------------
            update_ema(G_ema, G, ema_beta(step, cfg))
            step += 1
            window_imgs += cfg.batch
            bar.update(1)

            if not all(math.isfinite(v) for v in (loss_d.item(), loss_g.item())):
                checkpoint("diverged")
                raise RuntimeError(f"training diverged at step {step} (loss is NaN/Inf); try a lower learning rate or another --loss")
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.time()
                ips = window_imgs / max(now - window_t, 1e-9)
                window_t, window_imgs = now, 0
                row = {"step": step, "seconds": round(seconds_before + now - t_start, 2),
                       "loss_d": round(loss_d.item(), 5), "loss_g": round(loss_g.item(), 5),
                       "penalty": round(float(penalty.detach()), 5), "d_real": round(d_real.float().mean().item(), 4),
                       "d_fake": round(d_fake.float().mean().item(), 4), "images_per_s": round(ips, 1)}
                log.writerow(row)
                log_file.flush()
                bar.set_postfix(D=f"{row['loss_d']:.3f}", G=f"{row['loss_g']:.3f}", img_s=f"{ips:.0f}")
            if step % cfg.sample_every == 0:
                save_previews(G_ema, fixed_z, run / "samples", step)
            if step % cfg.checkpoint_every == 0:
                checkpoint()
        bar.close()
        checkpoint(stopped_by)
        save_previews(G_ema, fixed_z, run / "samples", step)
        log_file.close()
        plot_losses(run / "log.csv", run / "loss.png")
    return TrainResult(run, step, stopped_by, seconds_before + time.time() - t_start)


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
def save_previews(G_ema, fixed_z: torch.Tensor, folder: Path, step: int) -> None:
    """A 4x2 grid of EMA samples and one sample tiled 2x2 (a seam shows as a cross)."""
    imgs = G_ema(fixed_z).float().cpu()
    tiles = [to_uint8_image(im) for im in imgs]
    rows = [np.concatenate(tiles[i:i + 4], axis=1) for i in range(0, len(tiles), 4)]
    Image.fromarray(np.concatenate(rows, axis=0)).save(folder / f"grid_{step:06d}.png")
    Image.fromarray(np.tile(tiles[0], (2, 2, 1))).save(folder / f"tiled_{step:06d}.png")
    extra = imgs.shape[1] - 3
    if extra > 0:  # show extra maps (height, roughness) next to each other for the first sample
        maps = [to_uint8_image(imgs[0, 3 + i:4 + i]) for i in range(extra)]
        Image.fromarray(np.concatenate(maps, axis=1)).save(folder / f"maps_{step:06d}.png")


def plot_losses(log_csv: Path, out_png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with log_csv.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    for key in ("loss_d", "loss_g", "penalty"):
        ax.plot(steps, [float(r[key]) for r in rows], label=key, linewidth=1)
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = out_png.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out_png)
