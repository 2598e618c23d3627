"""The training loop: exemplar -> run directory.

Phases of one step, in order (names match the log columns):
  D    discriminator on augmented real crops vs. detached fakes (n_critic times;
       WGAN-GP adds its gradient penalty here, WGAN clips the critic's weights after it)
  R1   lazy R1 penalty on reals every `r1_every` steps (logistic and hinge losses)
  G    generator through the discriminator (+ feature matching, + the patch-SWD term when swd_weight > 0;
       adv_weight 0 skips D and R1: G learns from the patch term alone)
  EMA  exponential moving average of G's weights (what gets sampled and exported)
With several processes (see distributed.py) each phase averages its gradients over the
ranks before the optimiser step; with --progressive the G and D phases run at the
stage's resolution (see progressive.py).

Run directory (written by rank 0 only):
  config.json               the resolved configuration
  checkpoint.safetensors    G, EMA G, D, optimisers, RNG, step (atomic; `--resume` continues it)
  checkpoint.diverged.safetensors   the state where the loss became NaN/Inf (the good checkpoint is kept)
  progressive.safetensors   the progressive output heads (only with --progressive)
  log.csv                   one row per `log_every` steps
  loss.png                  loss curves
  samples/grid_STEP.png     EMA samples from fixed latents (compare across steps)
  samples/tiled_STEP.png    one sample tiled 2x2: a seam would show as a cross
  derived/*.png             with --derive-maps: the base colour, height and roughness trained on
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

import torch
from tqdm import tqdm

from . import __version__
from . import distributed as dist
from . import progressive
from .checkpoint import CHECKPOINT_NAME, CheckpointError, atomic_write, load_optimizers, module_state, read_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .data import (ClassCropSampler, CropSampler, augment, color_channel_count, emphasise_detail, load_class_exemplars,
                   load_exemplars, warn)
from .losses import (LOGISTIC, OBJECTIVES, WASSERSTEIN, clip_weights, feature_matching_loss, gradient_penalty,
                     patch_swd_loss, r1_penalty)
from .structure import grid_frame, lattice, plan_training, structure_size, wave_vector
from .models import DiscriminatorSpec, GeneratorSpec, TextureGenerator, build_discriminator, update_ema, valid_input_min
from .monitor import LOG_FIELDS, drop_log_rows_after, make_probe, plot_losses, save_previews

DIVERGED_NAME = "checkpoint.diverged.safetensors"   # the state at a NaN/Inf stop, for inspection

# Config fields that fix the models' shapes: a --resume must keep them.
SHAPE_FIELDS = ("arch", "g_widths", "d_widths", "local_channels", "global_channels", "periodic_channels",
                "minibatch_std", "conditional", "class_channels", "progressive", "dcgan_base", "d_scales",
                "g_latent_blocks", "work_scale", "g_noise", "d_padding", "cell_channels", "g_out_kernel")   # d_padding: what the critic's weights learned to read


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for, but this torch build sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cpu")


def plan_scale(cfg: TrainConfig, exemplars, saved: TrainConfig | None = None, verbose: bool = True) -> None:
    """Fill the automatic scale settings (size, work_scale, d_scales, structure_px) in place from the
    exemplar's measured structure (gan_core/structure.py), say what was chosen and why, and bring the
    exemplars to the working resolution. A resumed run keeps the values it was started with."""
    if cfg.arch == "dcgan":
        return
    auto = ("size", "work_scale", "d_scales")
    if saved is not None:
        for name in auto:
            if not getattr(cfg, name):
                setattr(cfg, name, getattr(saved, name) or getattr(TrainConfig(), name))
    if not cfg.structure_px and saved is not None:
        cfg.structure_px = saved.structure_px
    if not all(getattr(cfg, name) for name in auto):
        images = exemplars.all_images
        g_scale = 2 ** (len(cfg.g_widths) - 1)
        structure = cfg.structure_px or max(structure_size(im) for im in images)
        min_d_input = valid_input_min(len(cfg.d_widths)) if cfg.d_padding in ("valid", "auto") else 16
        plan = plan_training(structure, min(min(im.shape[1:]) for im in images), g_scale,
                             cfg.size, cfg.work_scale, cfg.d_scales, min_d_input)
        cfg.size, cfg.work_scale, cfg.d_scales, cfg.structure_px = plan.size, plan.work_scale, plan.d_scales, round(structure, 1)
        if verbose:
            warn(plan.why + " (override with --structure-px, --size, --work-scale, --d-scales)")
    cfg.d_scales = cfg.d_scales or 1
    cfg.validate_size()
    if cfg.work_scale < 1:
        if cfg.progressive:
            raise ConfigError("--progressive trains at the exemplar's resolution: add --work-scale 1")
        exemplars.downscale(round(1 / cfg.work_scale))


CELL_CHANNELS_AUTO = 4   # --cell-channels -1 with --periodic-grids: a few values per tile or brick (tone and more)


def plan_periodic(cfg: TrainConfig, exemplars, saved: TrainConfig | None = None,
                  verbose: bool = True) -> tuple[list[tuple[float, float]], float]:
    """Resolve `periodic_channels = -1` (auto) and `cell_channels` in place; return the wave vectors a fresh
    G starts from and, for a grid, how its rows of cells are sheared (gan_core/structure.py: GridFrame).

    An exemplar that repeats in one direction (boards, siding, corduroy: gan_core/structure.py) gets one
    periodic channel across it, so its seams run straight over any size. A 2D lattice (tiles, bricks) is
    measured and named but gets none unless `periodic_grids` asks for them: then two waves fixed to the grid
    and `cell_channels` channels that draw one value per tile or brick. In the quality suite these paint
    brick walls by eye and won two bricks seeds of three, but lost two tiles seeds of three by number
    (docs/quality-history.md, fourteenth session).
    Others get none."""
    if saved is not None:   # a resumed run keeps its channels; their wave vectors are in the checkpoint
        cfg.cell_channels, cfg.cell_values = saved.cell_channels, saved.cell_values   # what G's weights learned
        if cfg.periodic_channels < 0:
            cfg.periodic_channels = max(saved.periodic_channels, 0)
        return [], 0.0
    grid_cells = CELL_CHANNELS_AUTO if cfg.cell_channels < 0 else cfg.cell_channels
    cfg.cell_channels = 0
    if cfg.periodic_channels >= 0:
        return [], 0.0
    cfg.periodic_channels = 0
    images = exemplars.all_images
    if cfg.arch == "dcgan" or cfg.conditional or len(images) != 1:
        return [], 0.0
    found = lattice(images[0])   # at the working resolution: plan_scale has downscaled it
    if found is None:
        return [], 0.0
    periods = ", ".join(f"({x / cfg.work_scale:.0f}, {y / cfg.work_scale:.0f})" for x, y in found.periods)
    if len(found.periods) == 2 and not cfg.periodic_grids:
        if verbose:
            warn(f"regular texture: a 2D lattice, periods {periods} px; no periodic channels by default; "
                 f"--periodic-grids fixes two to the grid, with a value drawn per tile or brick (it paints brick walls)")
        return [], 0.0
    g_scale = 2 ** (len(cfg.g_widths) - 1)
    frame = grid_frame(images[0], found.periods, g_scale) if len(found.periods) == 2 else None
    waves = frame.waves if frame else [wave_vector(found.periods[0], g_scale)]
    crop_cells = cfg.size // g_scale
    for k in waves:
        snapped = [round(c * crop_cells) / crop_cells for c in k]   # the crop's latent holds whole periods only
        if not any(snapped) or math.dist(snapped, k) > 0.25 * math.hypot(*k):
            if verbose:
                warn(f"regular texture: repeats every {periods} px, which a {cfg.size} px crop cannot hold whole: "
                     f"no periodic channels (a larger --size would hold it)")
            return [], 0.0
    cells = f", {grid_cells} channels drawn per cell (shear {frame.shear:g})" if frame and grid_cells else ""
    if verbose:
        warn(f"regular texture: repeats every {periods} px (autocorrelation peak {found.peak}): "
             f"{len(waves)} periodic latent channel(s) across it{cells} (--periodic-channels 0 turns them off)")
    cfg.periodic_channels = len(waves)
    cfg.cell_channels = grid_cells if frame else 0
    return waves, frame.shear if frame else 0.0


def build_models(cfg: TrainConfig, out_channels: int, num_classes: int = 0, grey: bool = False):
    if cfg.arch == "dcgan":
        from .dcgan import build_dcgan
        return build_dcgan(cfg, out_channels)
    g_spec = GeneratorSpec(cfg.local_channels, cfg.global_channels, max(cfg.periodic_channels, 0), out_channels, tuple(cfg.g_widths),
                           num_classes=num_classes, class_channels=cfg.class_channels if num_classes else 0,
                           latent_blocks=cfg.g_latent_blocks, grey=grey, noise_channels=cfg.g_noise,
                           upsample=round(1 / cfg.work_scale) if cfg.work_scale else 1,
                           cell_channels=cfg.cell_channels, cell_values=cfg.cell_values, out_kernel=cfg.g_out_kernel)
    d_spec = DiscriminatorSpec(out_channels, tuple(cfg.d_widths), cfg.minibatch_std, cfg.use_spectral_norm(), num_classes,
                               scales=cfg.d_scales, padding=cfg.d_padding)
    return TextureGenerator(g_spec), build_discriminator(d_spec)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision this device computes natively, or None (stay float32).
    On the CPU only bf16 pays, and only with AVX512-BF16/AMX (docs/benchmarks.md: ~1.4x per step)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


def make_optimizer(cfg: TrainConfig, params, which: str) -> torch.optim.Optimizer:
    name, lr_g, lr_d, betas = cfg.resolved_optimizer()
    lr = lr_g if which == "g" else lr_d
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=betas)


@dataclass(frozen=True)
class Builders:
    """How the trainer builds its models and optimisers: train(cfg, builders=...) for variants (bench/)."""
    models: object = build_models        # (cfg, out_channels, num_classes, grey=False) -> (G, D)
    optimizer: object = make_optimizer   # (cfg, params, "g" | "d") -> torch.optim.Optimizer


def ema_beta(step: int, cfg: TrainConfig) -> float:
    """EMA decay with a half-life that ramps up to cfg.ema_half_life_steps (StyleGAN2-ADA style)."""
    half_life = min(cfg.ema_half_life_steps, 0.1 * step + 1)
    return 0.5 ** (1.0 / max(half_life, 1e-8))


LR_FINAL = 0.1   # the learning rates' factor at the end of a ramp-down


def lr_factor(progress: float, rampdown: float) -> float:
    """1 until the last `rampdown` of the budget, then a cosine fall to LR_FINAL at progress 1."""
    if rampdown <= 0 or progress <= 1 - rampdown:
        return 1.0
    t = min(1.0, (progress - (1 - rampdown)) / rampdown)
    return LR_FINAL + (1 - LR_FINAL) * 0.5 * (1 + math.cos(math.pi * t))


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


STOP_REASONS = ["", "time", "terminated", "interrupted"]   # higher code wins when ranks disagree


@dataclass
class TrainResult:
    run: Path
    step: int
    stopped_by: str   # "steps" | "time" | "interrupted" | "terminated"
    seconds: float


def check_run_dir(cfg: TrainConfig) -> Path:
    run = Path(cfg.out)
    ckpt_path = run / CHECKPOINT_NAME
    if not cfg.resume and ckpt_path.exists():
        raise ConfigError(f"{run} already holds a training run; pass --resume to continue it or choose another --out")
    if cfg.resume and not ckpt_path.exists():
        raise ConfigError(f"--resume: no checkpoint in {run}")
    return run


def train(cfg: TrainConfig, show_progress: bool = True, builders: Builders | None = None) -> TrainResult:
    """Train (or continue) the run in cfg.out. With cfg.nproc > 1 outside torchrun, spawns the
    processes here and returns when they are done; under torchrun each process calls this.
    builders: how models and optimisers are made (default Builders(); single-process runs only)."""
    cfg.validate()
    info = dist.env_info()
    if cfg.nproc > 1 and not info.enabled:
        check_run_dir(cfg)
        if cfg.batch % cfg.nproc:
            raise ConfigError(f"--batch {cfg.batch} must be divisible by the number of processes ({cfg.nproc})")
        # fail early, in one line
        load_class_exemplars(cfg.data) if cfg.conditional else load_exemplars(cfg.data, cfg.derive_maps, cfg.size)
        dist.spawn(train, cfg, show_progress)
        _, saved = read_checkpoint(Path(cfg.out))
        return TrainResult(Path(cfg.out), saved["step"], saved["stopped_by"], saved["seconds"])
    try:
        result = _train(cfg, show_progress and info.is_main, info, builders or Builders())
        # Leave together: a rank that tears down while its peer is still talking to the store
        # can be aborted by gloo ("terminate called without an active exception"), seen once in CI-like runs.
        dist.barrier(info)
        return result
    finally:
        dist.teardown(info)


def _train(cfg: TrainConfig, show_progress: bool, rank: dist.DistInfo, builders: Builders = Builders()) -> TrainResult:
    run = check_run_dir(cfg)
    ckpt_path = run / CHECKPOINT_NAME
    device = dist.setup(rank, cfg.dist_backend, pick_device(cfg.device))
    if cfg.batch % rank.world:
        raise ConfigError(f"--batch {cfg.batch} must be divisible by the number of processes ({rank.world})")
    batch = cfg.batch // rank.world     # this rank's share of the global batch
    torch.manual_seed(cfg.seed)          # same on every rank: identical initial models

    # --- data ------------------------------------------------------------------------------
    if cfg.conditional:
        exemplars = load_class_exemplars(cfg.data)
        classes = exemplars.classes
    else:
        exemplars, classes = load_exemplars(cfg.data, cfg.derive_maps, cfg.size), None
    if rank.is_main:
        for n in exemplars.notices:
            warn(n)
    saved_cfg = None
    if cfg.resume:
        tensors, saved_info = read_checkpoint(ckpt_path)
        saved_cfg = TrainConfig.from_dict(saved_info["config"])
        saved_cfg.d_padding = saved_info["config"].get("d_padding", "circular")   # runs from before the option
        saved_cfg.cell_channels = saved_info["config"].get("cell_channels", 0)     # ... and before cell channels
        saved_cfg.cell_values = saved_info["config"].get("cell_values", "normal")  # ... and before binary cells
        if cfg.d_padding == "auto":   # the critic's weights learned to read the run's padding
            cfg.d_padding = saved_cfg.d_padding
        if cfg.d_emphasis == -1:     # ... and the run's emphasis; runs from before the option had none
            cfg.d_emphasis = saved_info["config"].get("d_emphasis", 0.0)
    plan_scale(cfg, exemplars, saved_cfg, verbose=rank.is_main)
    measured_waves = cfg.periodic_channels < 0   # auto: the lattice's wave vectors, fixed
    if measured_waves and saved_cfg is not None:  # a resume keeps what its channels were: measured, or learned
        measured_waves = saved_info.get("periodic_measured", False)
    waves, shear = plan_periodic(cfg, exemplars, saved_cfg, verbose=rank.is_main)
    channels = exemplars.channels
    n_color = color_channel_count(channels)
    num_classes = len(classes) if classes else 0
    seed = cfg.seed + 1000 * rank.rank   # per-rank data, latents and augmentation
    data_rng = torch.Generator().manual_seed(seed + 1)
    latent_rng = torch.Generator().manual_seed(seed + 2)
    aug_rng = torch.Generator().manual_seed(seed + 3)
    Sampler = ClassCropSampler if cfg.conditional else CropSampler
    sampler = Sampler(exemplars, cfg.size, device, cfg.wrap_crops, cfg.flip_rot, data_rng)

    # --- models and optimisers ----------------------------------------------------------------
    G, D = builders.models(cfg, len(channels), num_classes, grey=exemplars.is_grey)
    if measured_waves and isinstance(G, TextureGenerator) and G.spec.periodic_channels:
        if waves:   # a fresh run; a resume loads them from its checkpoint
            G.wave_vectors.data.copy_(torch.tensor(waves))
            if G.spec.cell_channels:
                G.cell_shear.fill_(shear)
        G.wave_vectors.requires_grad_(False)   # measured, not learned: Adam's steps would drift the period
    if cfg.g_init_mean and not cfg.resume and isinstance(G, TextureGenerator):   # a resume loads its weights
        G.init_output_mean(torch.cat([im.flatten(1) for im in exemplars.all_images], 1).mean(1))
    G, D = G.to(device), D.to(device)
    heads = progressive.ProgressiveHeads(G).to(device) if cfg.progressive else None
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    g_params = [{"params": list(G.parameters())}] + ([{"params": list(heads.parameters())}] if heads else [])
    opt_g = builders.optimizer(cfg, g_params, "g")
    opt_d = builders.optimizer(cfg, D.parameters(), "d")
    base_lrs = {opt: [group["lr"] for group in opt.param_groups] for opt in (opt_g, opt_d)}   # before a resume loads its own
    objective = OBJECTIVES[cfg.loss]
    n_critic = cfg.resolved_n_critic()
    reuse_fake = n_critic == 1
    adversarial = cfg.adv_weight > 0
    step, seconds_before = 0, 0.0

    if cfg.resume:
        if saved_info["channels"] != channels:
            raise ConfigError(f"--resume: the run was trained on channels {saved_info['channels']}, this data has {channels}")
        if saved_info.get("classes") != classes:
            raise ConfigError(f"--resume: the run was trained on classes {saved_info.get('classes')}, this data has {classes}")
        changed = [f for f in SHAPE_FIELDS if getattr(saved_cfg, f) != getattr(cfg, f)]
        if changed:
            diffs = ", ".join(f"{f} (run: {getattr(saved_cfg, f)}, now: {getattr(cfg, f)})" for f in changed)
            raise ConfigError(f"--resume: model shape flags differ from the run's: {diffs}; pass the run's values "
                              f"(a default may have changed since it was trained)")
        G.load_state_dict(module_state(tensors, "G"))
        G_ema.load_state_dict(module_state(tensors, "G_ema"))
        D.load_state_dict(module_state(tensors, "D"))
        load_optimizers(tensors, saved_info, opt_g, opt_d)
        if heads is not None:
            heads.load_state_dict(read_checkpoint_heads(run / progressive.HEADS_NAME))
        step, seconds_before = saved_info["step"], saved_info["seconds"]
        if rank.is_main:   # rank 0 continues exactly; other ranks draw fresh streams for this step
            for gen, key in ((data_rng, "data"), (latent_rng, "latent"), (aug_rng, "aug")):
                gen.set_state(tensors[f"rng.{key}"])
            torch.set_rng_state(tensors["rng.torch"])
        else:
            for gen, off in ((data_rng, 1), (latent_rng, 2), (aug_rng, 3)):
                gen.manual_seed(seed + off + 7919 * step)
    for module in (G, G_ema, D) + ((heads,) if heads else ()):
        dist.broadcast_module(module, rank)

    if rank.is_main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "samples").mkdir(exist_ok=True)
        (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        if cfg.derive_maps:   # for the user to inspect (and to train on again as a material folder)
            from .derive_maps import save_derived
            save_derived(exemplars, run / "derived")
    amp_dtype = autocast_dtype(device) if cfg.amp else None
    lh = lw = cfg.size // G.spec.work_scale if cfg.arch != "dcgan" else 1
    fixed_z = G_ema.sample_latent(8, 2 * lh, 2 * lw, torch.Generator().manual_seed(cfg.seed + 4))
    fixed_classes = torch.arange(8, device=device) % num_classes if num_classes else None
    schedule = progressive.Schedule(cfg, G) if cfg.progressive else None
    probe = make_probe(cfg, exemplars, G_ema, lh, lw) if rank.is_main else None

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)

    def d_scores(x, cls):
        # D's logits for a gradient penalty: under bf16 amp the double backward runs in bf16 like the rest of D
        # (as StyleGAN2-ADA's mixed-precision layers do); the norm is taken in float32. fp16 (older GPUs)
        # has too little range for an unscaled input gradient, so there the penalty stays float32.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp_dtype == torch.bfloat16):
            return D(x, cls).float()

    def real_batch(n):
        """(crops, class ids or None)"""
        if cfg.conditional:
            return sampler.batch(n)
        return sampler.batch(n), None

    def random_classes(n):
        return torch.randint(num_classes, (n,), generator=latent_rng).to(device) if num_classes else None

    def fakes(n, cls, stage=None):
        if cfg.g_canvas > 1 and stage is None:
            return canvas_windows(n, cfg.g_canvas)
        m = cfg.g_margin
        z = G.sample_latent(n, lh + 2 * m, lw + 2 * m, latent_rng)
        if stage is not None:
            return progressive.generate(G, heads, z, stage, cls)
        if cfg.arch == "dcgan":
            return G(z, cls)
        x = G(z, cls, full_res=False)   # D judges the working resolution
        if m:   # a window inside the margin: every pixel's field holds distinct latent cells, as in a texture.
            # At a random pixel offset, so the critic's stride grid meets every phase of G's cells (the roll
            # did that for whole tori; a window fixed to the cell grid let G hide a cell-sized pattern).
            h, w, span = lh * G.spec.work_scale, lw * G.spec.work_scale, 2 * m * G.spec.work_scale
            offsets = torch.randint(0, span + 1, (n, 2), generator=latent_rng).tolist()
            x = torch.stack([x[i, :, y:y + h, x0:x0 + w] for i, (y, x0) in enumerate(offsets)])
        return x

    def canvas_windows(n, k):
        # n windows of the crop size, k*k from each of n/k² canvases k crops wide. Each canvas is a torus, so a
        # window at any offset is seamless, and at a random pixel offset the critic meets every phase of G's cells.
        x = G(G.sample_latent(n // k ** 2, lh * k, lw * k, latent_rng), full_res=False)
        h, w = x.shape[-2] // k, x.shape[-1] // k
        ys = torch.randint(0, x.shape[-2], (n,), generator=latent_rng).tolist()
        xs = torch.randint(0, x.shape[-1], (n,), generator=latent_rng).tolist()
        rows = [torch.arange(y, y + h, device=x.device) % x.shape[-2] for y in ys]
        cols = [torch.arange(x0, x0 + w, device=x.device) % x.shape[-1] for x0 in xs]
        return torch.stack([x[i // k ** 2][:, r][:, :, c] for i, (r, c) in enumerate(zip(rows, cols))])

    def aug(x, fake: bool):
        # A roll cuts a seam into a real crop, and into a fake one cut from a margin or a canvas; only a critic
        # that pads circularly sees that seam anyway. A whole-torus fake rolls seamlessly.
        roll = cfg.translate and (cfg.d_padding == "circular" or (fake and not cfg.g_margin and cfg.g_canvas == 1))
        x = augment(x, roll, cfg.color_jitter, n_color, aug_rng)
        return emphasise_detail(x, cfg.d_emphasis, cfg.d_padding == "circular")

    def checkpoint(stopped_by: str = "", path: Path = ckpt_path):
        if not rank.is_main:
            return
        info = {"texgan_version": __version__, "step": step, "seconds": seconds_before + (time.time() - t_start),
                "config": cfg.to_dict(), "channels": channels, "exemplars": exemplars.names,
                "g_spec": G.spec.to_dict(), "d_spec": D.spec.to_dict(), "arch": cfg.arch,
                "receptive_radius_cells": G.receptive_radius_cells(), "stopped_by": stopped_by,
                "world_size": rank.world, "periodic_measured": bool(measured_waves and getattr(G.spec, "periodic_channels", 0))}
        if classes:
            info["classes"] = classes
        rng = {"data": data_rng.get_state(), "latent": latent_rng.get_state(), "aug": aug_rng.get_state(),
               "torch": torch.get_rng_state()}
        if heads is not None:   # first, so a checkpoint never points at older heads
            from safetensors.torch import save_file
            state = {k: v.detach().cpu().contiguous() for k, v in heads.state_dict().items()}
            atomic_write(run / progressive.HEADS_NAME, lambda tmp: save_file(state, tmp))
        save_checkpoint(path, G=G, G_ema=G_ema, D=D, opt_g=opt_g, opt_d=opt_d, rng=rng, info=info)

    log_file = log = None
    if rank.is_main:
        if cfg.resume:
            drop_log_rows_after(run / "log.csv", step)  # rows logged after the last checkpoint are redone
        log_file = (run / "log.csv").open("a", newline="")
        log = csv.DictWriter(log_file, LOG_FIELDS)
        if log_file.tell() == 0:
            log.writeheader()

    t_start = time.time()
    deadline = t_start + cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
    stopped_by = "steps"
    # A time budget that ends training before --steps would: show time, not a 0% step bar.
    by_time = cfg.max_minutes > 0 and deadline - t_start < (cfg.steps - step) * 10.0
    bar = tqdm(total=round(cfg.max_minutes * 60) if by_time else cfg.steps, initial=0 if by_time else step,
               disable=not show_progress, unit="s" if by_time else "step", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n:.0f}/{total} s{postfix}" if by_time else None)
    window_t, window_imgs = time.time(), 0
    with StopFlag() as stop:
        time_done = 0.0   # fraction of --max-minutes spent, agreed by all ranks at the last step
        penalty = torch.zeros((), device=device)   # the last penalty computed (lazy ones skip steps), for the log
        while step < cfg.steps:
            G.train(), D.train()
            factor = lr_factor(max(step / cfg.steps, time_done), cfg.lr_rampdown)
            for opt, lrs in base_lrs.items():   # also undoes a resumed run's ramped-down rates
                for group, lr in zip(opt.param_groups, lrs):
                    group["lr"] = lr * factor
            stage = schedule.at(step) if schedule else None

            def at_stage(real):
                return progressive.real_at(real, stage) if stage else real

            # --- D: real vs fake (fakes carry the reals' classes) -----------------------------
            # With one critic step the fake is drawn once with autograd on: D trains on it
            # detached and the G phase reuses it (as the DCGAN example does), saving a G forward.
            D.requires_grad_(True)
            if not adversarial:   # G learns from the patch term alone: no D step, nothing to log for D
                real, real_cls = real_batch(batch)
                real = at_stage(real)
                zero = torch.zeros((), device=device)
                loss_d = penalty = d_real = d_fake = zero
            for critic_step in range(n_critic if adversarial else 0):
                real, real_cls = real_batch(batch)
                real = at_stage(real)
                with torch.set_grad_enabled(reuse_fake), autocast():
                    fake = fakes(batch, real_cls, stage).float()
                real_aug, fake_aug = aug(real, False), aug(fake, True)
                fake_aug_d = fake_aug.detach()
                with autocast():
                    d_real, d_fake = D(real_aug, real_cls).float(), D(fake_aug_d, real_cls).float()
                    if cfg.loss in LOGISTIC and cfg.label_smoothing > 0:
                        loss_d = objective.d_loss(d_real, d_fake, 1.0 - cfg.label_smoothing)
                    else:
                        loss_d = objective.d_loss(d_real, d_fake)
                # The penalty (D under autocast here too: in float32 it cost ~25% of a step) runs on every
                # gp_every-th critic step, weighted by gp_every; the log shows the last one computed.
                gp = torch.zeros((), device=device)
                if cfg.loss == "wgan-gp" and (step * n_critic + critic_step) % cfg.gp_every == 0:
                    gp = gradient_penalty(lambda x: d_scores(x, real_cls), real_aug, fake_aug_d, aug_rng)
                    penalty = gp.detach()
                opt_d.zero_grad(set_to_none=True)
                (loss_d + cfg.gp_weight * cfg.gp_every * gp).backward()
                dist.average_gradients(D, rank)
                opt_d.step()
                if cfg.loss == "wgan":
                    clip_weights(D, cfg.wgan_clip)

            # --- R1: lazy regularisation on reals (not for the Wasserstein critics) -------------
            if adversarial and cfg.r1_gamma > 0 and cfg.loss not in WASSERSTEIN and step % cfg.r1_every == 0:
                real_r1, cls_r1 = real_batch(batch)
                real_r1 = aug(at_stage(real_r1), False).detach().requires_grad_(True)
                penalty = r1_penalty(d_scores(real_r1, cls_r1), real_r1)
                opt_d.zero_grad(set_to_none=True)
                (penalty * (cfg.r1_gamma / 2) * cfg.r1_every).backward()
                dist.average_gradients(D, rank)
                opt_d.step()

            # --- G: fool D ---------------------------------------------------------------------
            D.requires_grad_(False)
            if reuse_fake and adversarial:
                fake_cls = real_cls
            else:
                # The patch term compares fakes with these reals: same classes then.
                fake_cls = real_cls if cfg.swd_weight > 0 else random_classes(batch)
                with autocast():
                    fake = fakes(batch, fake_cls, stage).float()
                    fake_aug = aug(fake, True)
            with autocast():
                loss_g = torch.zeros((), device=device)
                if adversarial:
                    loss_g = cfg.adv_weight * objective.g_loss(D(fake_aug, fake_cls).float())
                if adversarial and cfg.feature_matching > 0:
                    with torch.no_grad():
                        real_feat = D.features(real_aug).float()
                    loss_g = loss_g + cfg.feature_matching * feature_matching_loss(real_feat, D.features(fake_aug).float())
            if cfg.swd_weight > 0:   # float32, un-augmented: colour jitter would blur the colours being matched
                loss_g = loss_g + cfg.swd_weight * patch_swd_loss(
                    fake.float(), real.float(), cfg.swd_levels, cfg.swd_patch, cfg.swd_projections, aug_rng,
                    max_patches=cfg.swd_patches)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            dist.average_gradients(G, rank)
            if heads is not None:
                dist.average_gradients(heads, rank)
            opt_g.step()

            # --- EMA ------------------------------------------------------------------------------
            update_ema(G_ema, G, ema_beta(step, cfg))
            step += 1
            window_imgs += cfg.batch
            bar.update(min(time.time() - t_start, bar.total) - bar.n if by_time else 1)

            # --- all ranks agree on stopping, divergence and the logged numbers -------------------
            reason = stop.reason or ("time" if time.time() >= deadline else "")
            flags = torch.tensor([STOP_REASONS.index(reason), 0.0, loss_d.item(), loss_g.item(), float(penalty.detach()),
                                  d_real.mean().item(), d_fake.mean().item(),
                                  (time.time() - t_start) / (deadline - t_start)], dtype=torch.float64)
            finite = all(math.isfinite(v) for v in flags[2:4].tolist())
            flags[1] = 0.0 if finite else 1.0
            if rank.enabled:
                flags[2:7] = torch.nan_to_num(flags[2:7], nan=0.0, posinf=0.0, neginf=0.0)
                codes = flags[[0, 7]].clone()   # the stop reason and the time spent: the largest wins
                dist.all_reduce_sum(flags, rank)
                torch.distributed.all_reduce(codes, op=torch.distributed.ReduceOp.MAX)
                flags[0], flags[7] = codes
                flags[2:7] /= rank.world
            time_done = float(flags[7])
            if flags[1] > 0:
                # The NaN state goes beside the last good checkpoint, never over it: --resume still works.
                checkpoint("diverged", run / DIVERGED_NAME)
                raise RuntimeError(f"training diverged at step {step} (loss is NaN/Inf); try a lower learning rate or another --loss")
            quality = probe.measure() if probe and step % cfg.quality_every == 0 else None
            if rank.is_main and (step % cfg.log_every == 0 or step == cfg.steps or flags[0] > 0 or quality):  # last step too
                now = time.time()
                ips = window_imgs / max(now - window_t, 1e-9)
                window_t, window_imgs = now, 0
                v = flags.tolist()
                row = {"step": step, "seconds": round(seconds_before + now - t_start, 2),
                       "loss_d": round(v[2], 5), "loss_g": round(v[3], 5), "penalty": round(v[4], 5),
                       "d_real": round(v[5], 4), "d_fake": round(v[6], 4), "images_per_s": round(ips, 1)}
                if quality:
                    row["swd_ratio"], row["swd_worst"] = round(quality[0], 3), round(quality[1], 3)
                log.writerow(row)
                log_file.flush()
                post = dict(D=f"{row['loss_d']:.3f}", G=f"{row['loss_g']:.3f}", img_s=f"{ips:.0f}")
                if by_time:
                    post = {"step": step, **post}
                if probe and probe.last:
                    post["swd"] = f"{probe.last[0]:.2f}"
                if stage:
                    post["res"] = f"{stage.size}" + (f" fade {stage.alpha:.2f}" if stage.fading else "")
                bar.set_postfix_str(", ".join(f"{k}={v}" for k, v in post.items()))
            if rank.is_main and step % cfg.sample_every == 0:
                save_previews(G_ema, fixed_z, run / "samples", step, fixed_classes)
            if step % cfg.checkpoint_every == 0:
                checkpoint()
            if flags[0] > 0:
                stopped_by = STOP_REASONS[int(flags[0])]
                break
        bar.close()
        checkpoint(stopped_by)
        if rank.is_main:
            save_previews(G_ema, fixed_z, run / "samples", step, fixed_classes)
            log_file.close()
            plot_losses(run / "log.csv", run / "loss.png")
    for module in (G, D, G_ema):
        dist.check_replicas(module, rank)
    return TrainResult(run, step, stopped_by, seconds_before + time.time() - t_start)


def read_checkpoint_heads(path: Path) -> dict:
    from safetensors.torch import load_file
    if not path.is_file():
        raise CheckpointError(f"--resume --progressive: {path} is missing")
    return load_file(str(path))
