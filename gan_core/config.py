"""Training configuration: defaults < TOML file < command-line flags.

Every field here is a `texgan train` flag (underscores become dashes) and a key
in a `--config FILE.toml`; unknown TOML keys are an error, not a silent typo.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

CELL_VALUES = ("binary", "normal")   # what a cell channel holds (gan_core/models.py: sample_latent)


class ConfigError(ValueError):
    """Bad configuration; the CLI prints it as one line."""


@dataclass
class TrainConfig:
    data: str = ""                 # an image, a folder of images, or a folder of material maps
    derive_maps: bool = False      # photo(s) -> base colour + derived height, roughness (gan_core/derive_maps.py)
    out: str = ""                  # run directory
    steps: int = 20000             # stop after this many generator steps ...
    max_minutes: float = 0.0       # ... or after this many minutes (0 = no limit), whichever first
    # Scale: 0 = chosen from the exemplar's measured structure size (gan_core/structure.py). Opt-in for now:
    # the defaults stay the measured old ones until the quality suite has chosen new ones (docs/quality-history.md).
    size: int = 64                 # training crop in working pixels (multiple of the generator scale); 0 = auto
    structure_px: float = 0.0      # the exemplar's structure size in pixels; 0 = measure it
    work_scale: float = 1.0        # training resolution / exemplar resolution: 1, 0.5, 0.25 or 0.125; 0 = auto
    batch: int = 8                 # batch 4 (twice the steps at equal time) scored worse (docs/quality-history.md)
    # wgan-gp is the default because it measured best in short CPU runs (docs/gan-family.md):
    # nonsat/hinge collapsed to one texture in the same budget.
    # auto = wgan-gp for the texture generator, nonsat (the paper's) for --arch dcgan.
    loss: str = "auto"             # auto | wgan-gp | nonsat | hinge | minimax | wgan
    arch: str = "texture"          # texture (tileable, default) | dcgan (fixed-size, paper architecture)
    device: str = "auto"           # auto | cpu | cuda
    seed: int = 0
    resume: bool = False
    # optimisation
    lr_g: float = 0.002
    lr_d: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 0.1          # R1 weight (0 = off); applied lazily every r1_every steps
    r1_every: int = 16             # StyleGAN2's lazy interval: at 4 R1 cost ~18% of a step (docs/benchmarks.md)
    gp_weight: float = 10.0        # WGAN-GP penalty weight
    gp_every: int = 1              # WGAN-GP penalty on every Nth critic step, weighted xN (lazy, as StyleGAN2's R1)
    wgan_clip: float = 0.01        # WGAN weight clipping bound
    n_critic: int = 0              # D steps per G step; 0 = auto: 5 for wgan (the paper), 2 for wgan-gp
                                   #   (measured: the paper's 5 spends the CPU budget on D, and 1 leaves the cellular kinds'
                                   #   joints open; docs/quality-history.md), else 1
    optimizer: str = "auto"        # auto | adam | rmsprop. auto = the objective's paper setting:
                                   #   wgan -> RMSprop lr 5e-5; wgan-gp -> Adam betas (0, 0.9), lr 1e-4 for G
                                   #   and 4e-4 for D (two time-scale, Heusel et al. 2017: measured on the
                                   #   suite, docs/quality-history.md; the paper has 1e-4 for both);
                                   #   arch dcgan -> Adam lr 2e-4 betas (0.5, 0.999); else Adam lr_g/lr_d/betas.
                                   #   adam / rmsprop use lr_g, lr_d (and betas for adam) as given.
    spectral_norm: str = "auto"    # spectral norm on D: auto (on, except wgan: clipping is its constraint) | on | off
    ema_half_life_steps: float = 200.0   # EMA of G weights; ramps up with training length
    # Both learning rates fall (cosine) to 1/10 over this last fraction of the budget: of --steps, or of
    # --max-minutes counted from this start (a resume ramps again). SinGAN drops its rate x0.1 near the end.
    lr_rampdown: float = 0.0
    # generator / discriminator
    local_channels: int = 8
    global_channels: int = 8
    # PSGAN periodic channels. -1 = auto: an exemplar that repeats in one direction (boards) gets one, its wave
    # fixed across the measured period (gan_core/structure.py); grids (measured worse) and other textures
    # get none. N > 0: N channels with random, learned wave vectors (the PSGAN way).
    periodic_channels: int = -1
    # With auto: a 2D lattice (tiles, bricks) also gets channels, two waves fixed to the measured grid, and
    # cell_channels more that draw one value per tile or brick (its tone), laid out along the grid's rows.
    periodic_grids: bool = False
    cell_channels: int = -1        # -1 = auto: 4 with periodic_grids, else none (an explicit N needs periodic_grids)
    # What each cell channel holds: binary (+1 or -1: a tile is one thing or the other, as tiles are) or normal
    # (N(0, 1), the first recipe: the generator learned a smooth "how much", painting dots where values are near 0).
    cell_values: str = "binary"
    g_widths: tuple[int, ...] = (64, 64, 32, 16)
    g_latent_blocks: int = 0       # extra conv blocks at latent resolution (wider field for large structure)
    g_init_mean: bool = True       # G's output starts at the exemplar's mean colour (a resume keeps its weights)
    g_noise: int = 1               # noise maps per upsampled level (StyleGAN-style, inside the latent; 0 = none)
    g_out_kernel: int = 3          # the last conv's kernel, features -> colour: 1 (per pixel, StyleGAN's toRGB) or 3
    # Latent cells drawn beyond each side of a training fake, whose pixels are then cut away. 0: each fake is a
    # whole torus of size/8 cells, narrower than G's field, so G trains on latents that repeat within its field,
    # unlike any texture it paints later. A margin makes each fake a window of a larger canvas, as real crops are.
    g_margin: int = 0
    # Fakes as windows at no extra cost: G paints batch/K² canvases of K × K crops (tori K times wider than a crop,
    # wider than G's field) and D sees K² windows of each, at random offsets across the canvas' wrap (seamless).
    # 1: each fake is its own torus. The windows of one canvas share its global latent.
    g_canvas: int = 1
    d_widths: tuple[int, ...] = (32, 64, 64)
    d_scales: int = 1              # multi-scale D: patch discriminators on this many octaves (1-4); 0 = auto
    # circular: D sees each crop as a torus. A fake crop is one, a real crop is not: its seam cross is a cue
    # no fake can match. valid: D pads nothing (each logit judges pixels only) and real crops are not rolled.
    # auto: valid where the crop holds the critic's field (38 px with 3 layers; per scale), else circular.
    # auto is the default since valid scored a better worst level on 10 of 15 suite kinds (quality-history.md).
    d_padding: str = "auto"        # circular | valid | auto
    # The critic sees x + a * (x - blur(x)): grain and edges count 1 + a times. -1 = auto: 1 for
    # WGAN-GP's patch critic (chosen on the quality suite), 0 for the other objectives; a --resume keeps the run's own.
    d_emphasis: float = -1.0
    # Patch-distribution matching (losses.patch_swd_loss): a sliced-Wasserstein term in the G loss on an
    # image pyramid of pixel patches. adv_weight 0 trains G by this term alone (no discriminator step).
    swd_weight: float = 0.0
    swd_levels: int = 4
    swd_patch: int = 7
    swd_projections: int = 64
    swd_patches: int = 4096        # patches sorted per level over the batch (strided subsample; 0 = all)
    adv_weight: float = 1.0
    # Salimans et al. 2016 improvements (off by default)
    minibatch_std: bool = False
    label_smoothing: float = 0.0   # one-sided: real label 1 - this
    feature_matching: float = 0.0  # weight of the feature-matching term in the G loss
    # Progressive growing (Karras et al. 2018): the output resolution grows from progressive_start
    # px to size px, one generator block at a time, each new block faded in over a stage.
    progressive: bool = False
    progressive_start: int = 16        # first training resolution (px)
    progressive_stage_steps: int = 0   # G steps per resolution; 0 = split `steps` evenly over them
    progressive_fade: float = 0.5      # fraction of each stage spent fading the new block in
    # Conditional GAN: DATA is a folder of sub-folders, one texture class each
    conditional: bool = False
    class_channels: int = 8            # size of the learned class embedding fed to G
    dcgan_base: int = 64               # --arch dcgan width (paper: 128)
    # Distributed data parallel: batch is the global batch, split over the processes
    nproc: int = 1                     # > 1: spawn this many local processes (or launch with torchrun)
    dist_backend: str = "auto"         # auto (nccl on CUDA, gloo on CPU) | gloo | nccl
    # data and augmentation
    wrap_crops: bool = True        # crops wrap around the exemplar edges
    flip_rot: bool = False         # random flips and 90-degree rotations (not for lit/directional textures)
    color_jitter: float = 0.05     # strength of brightness/contrast/saturation jitter (0 = off)
    translate: bool = True         # random wrap-around translation of real and fake (D sees the wrap seam)
    # logging
    sample_every: int = 250
    checkpoint_every: int = 500
    log_every: int = 10
    quality_every: int = 100       # steps between SWD-ratio probes shown in the log and progress bar (0 = off)
    # Mixed precision where the hardware computes it natively: bf16 (or fp16) on CUDA, bf16 on CPUs
    # with AVX512-BF16/AMX. D's passes inside the R1/GP penalties too; weights, optimiser state and the penalty norms stay float32.
    amp: bool = True

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        values = {}
        for k, v in d.items():
            default = known[k].default
            if isinstance(default, tuple):
                v = tuple(v)
                if all(isinstance(d, float) for d in default):   # TOML's [0, 0.9]: an int where a float is meant
                    v = tuple(float(x) if isinstance(x, int) else x for x in v)
            values[k] = v
        return cls(**values)

    # --- values derived from the "auto" settings --------------------------------------------
    def resolved_n_critic(self) -> int:
        return self.n_critic or {"wgan": 5, "wgan-gp": 2}.get(self.loss, 1)

    def use_spectral_norm(self) -> bool:
        return self.spectral_norm == "on" or (self.spectral_norm == "auto" and self.loss != "wgan")

    def resolved_optimizer(self) -> tuple[str, float, float, tuple[float, float]]:
        """(name, lr_g, lr_d, betas) after applying `optimizer = "auto"`."""
        if self.optimizer == "auto":
            if self.loss == "wgan":
                return "rmsprop", 5e-5, 5e-5, tuple(self.betas)
            if self.loss == "wgan-gp":
                return "adam", 1e-4, 4e-4, (0.0, 0.9)
            if self.arch == "dcgan":
                return "adam", 2e-4, 2e-4, (0.5, 0.999)
            return "adam", self.lr_g, self.lr_d, tuple(self.betas)
        return self.optimizer, self.lr_g, self.lr_d, tuple(self.betas)

    def validate(self) -> "TrainConfig":
        from .losses import OBJECTIVES
        if self.loss == "auto":
            self.loss = "nonsat" if self.arch == "dcgan" else "wgan-gp"
        if self.loss not in OBJECTIVES:
            raise ConfigError(f"--loss must be one of {', '.join(OBJECTIVES)}, got {self.loss!r}")
        if self.arch not in ("texture", "dcgan"):
            raise ConfigError(f"--arch must be texture or dcgan, got {self.arch!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.steps < 1 or self.batch < 1:
            raise ConfigError("--steps and --batch must be at least 1")
        if self.max_minutes < 0:
            raise ConfigError("--max-minutes must be >= 0")
        if self.optimizer not in ("auto", "adam", "rmsprop"):
            raise ConfigError(f"--optimizer must be auto, adam or rmsprop, got {self.optimizer!r}")
        if self.spectral_norm not in ("auto", "on", "off"):
            raise ConfigError(f"--spectral-norm must be auto, on or off, got {self.spectral_norm!r}")
        if self.d_emphasis < 0 and self.d_emphasis != -1:
            raise ConfigError("--d-emphasis must be >= 0 (-1 = auto)")
        if self.d_emphasis == -1 and not self.resume:   # on a resume the trainer reads the run's own
            self.d_emphasis = 1.0 if self.loss == "wgan-gp" and self.arch == "texture" else 0.0
        if self.gp_every < 1:
            raise ConfigError("--gp-every must be at least 1")
        if self.n_critic < 0:
            raise ConfigError("--n-critic must be >= 0 (0 = auto)")
        if self.label_smoothing and self.loss not in ("nonsat", "minimax"):
            raise ConfigError("--label-smoothing applies to the logistic losses (nonsat, minimax) only")
        if not 0 <= self.label_smoothing < 0.5:
            raise ConfigError("--label-smoothing must be in [0, 0.5)")
        if not 0 <= self.d_scales <= 4:
            raise ConfigError("--d-scales must be 1 to 4 (0 = auto)")
        if self.d_padding not in ("circular", "valid", "auto"):
            raise ConfigError(f"--d-padding must be circular, valid or auto, got {self.d_padding!r}")
        if self.work_scale not in (0, 1, 0.5, 0.25, 0.125):
            raise ConfigError(f"--work-scale must be 1, 0.5, 0.25 or 0.125 (0 = auto), got {self.work_scale}")
        if self.structure_px < 0:
            raise ConfigError("--structure-px must be > 0 (0 = measure)")
        if not 0 <= self.g_latent_blocks <= 8:
            raise ConfigError("--g-latent-blocks must be 0 to 8")
        if not 0 <= self.lr_rampdown <= 1:
            raise ConfigError("--lr-rampdown must be in [0, 1] (a fraction of the budget; 0 = off)")
        if self.cell_channels < -1:
            raise ConfigError("--cell-channels must be >= 0 (-1 = auto)")
        if self.cell_values not in CELL_VALUES:
            raise ConfigError(f"--cell-values must be {' or '.join(CELL_VALUES)}, got {self.cell_values!r}")
        if self.cell_channels > 0 and not self.periodic_grids and not self.resume:
            raise ConfigError("--cell-channels draws a value per tile or brick of a grid: it needs --periodic-grids")
        if self.periodic_channels < -1:
            raise ConfigError("--periodic-channels must be >= 0 (-1 = auto)")
        if self.g_out_kernel not in (1, 3):
            raise ConfigError(f"--g-out-kernel must be 1 or 3, got {self.g_out_kernel}")
        if not 0 <= self.g_noise <= 4:
            raise ConfigError("--g-noise must be 0 to 4")
        if not 0 <= self.g_margin <= 8:
            raise ConfigError("--g-margin must be 0 to 8 latent cells")
        if self.g_margin and (self.arch == "dcgan" or self.progressive):
            raise ConfigError("--g-margin is for the texture generator without --progressive")
        if not 1 <= self.g_canvas <= 4:
            raise ConfigError(f"--g-canvas must be 1 to 4 crops per side, got {self.g_canvas}")
        if self.g_canvas > 1:
            if self.arch == "dcgan" or self.progressive or self.conditional or self.g_margin:
                raise ConfigError("--g-canvas is for the unconditional texture generator, without --progressive or --g-margin")
            per_rank = self.batch // max(self.nproc, 1)
            if per_rank % self.g_canvas ** 2:
                raise ConfigError(f"--g-canvas {self.g_canvas} cuts {self.g_canvas ** 2} windows from each canvas: "
                                  f"the batch per process ({per_rank}) must be a multiple of {self.g_canvas ** 2}")
        if self.swd_weight < 0 or self.adv_weight < 0 or (self.swd_weight == 0 and self.adv_weight == 0):
            raise ConfigError("--swd-weight and --adv-weight must be >= 0, and not both 0")
        if not (1 <= self.swd_levels <= 6 and 1 <= self.swd_patch <= 15 and self.swd_projections >= 1
                and self.swd_patches >= 0):
            raise ConfigError("--swd-levels must be 1 to 6, --swd-patch 1 to 15, --swd-projections >= 1, --swd-patches >= 0")
        if self.nproc < 1:
            raise ConfigError("--nproc must be at least 1")
        if self.dist_backend not in ("auto", "gloo", "nccl"):
            raise ConfigError(f"--dist-backend must be auto, gloo or nccl, got {self.dist_backend!r}")
        if self.arch == "dcgan":
            self.size = self.size or 64
            if self.size != 64:
                raise ConfigError("--arch dcgan is the paper's fixed 64x64 model: use --size 64")
            if self.progressive or self.conditional:
                raise ConfigError("--progressive and --conditional are for the texture generator, not --arch dcgan")
            if self.d_padding == "valid":
                raise ConfigError("--d-padding is for the texture generator's patch critic, not --arch dcgan")
            self.d_padding = "circular"   # auto: the paper's critic pads its own way; real crops roll as fakes do
            return self
        if self.size == 0:    # chosen from the exemplar by the trainer, then checked by validate_size
            return self
        return self.validate_size()

    def validate_size(self) -> "TrainConfig":
        scale = 2 ** (len(self.g_widths) - 1)
        if self.progressive:
            if not 0 <= self.progressive_fade <= 1:
                raise ConfigError("--progressive-fade must be in [0, 1]")
            if self.progressive_start >= self.size or self.progressive_start < self.size // scale \
                    or self.size % self.progressive_start or (self.size // self.progressive_start) & (self.size // self.progressive_start - 1):
                raise ConfigError(f"--progressive-start must be --size / 2**k, at least size / scale = {self.size // scale} "
                                  f"and below --size {self.size}, got {self.progressive_start}")
        if self.derive_maps and self.conditional:
            raise ConfigError("--derive-maps works on an image or a folder of images, not with --conditional")
        if self.conditional and self.class_channels < 1:
            raise ConfigError("--class-channels must be at least 1")
        if self.size < 16 or self.size % scale:
            raise ConfigError(f"--size must be a multiple of the generator scale {scale} and at least 16, got {self.size}")
        if self.d_padding in ("valid", "auto") and self.arch != "dcgan":
            from .models import valid_input_min
            need = valid_input_min(len(self.d_widths)) * 2 ** (max(self.d_scales, 1) - 1)
            smallest, flag = (self.progressive_start, "--progressive-start") if self.progressive else (self.size, "--size")
            if self.d_padding == "auto" and self.resume:
                pass   # the run's own padding: the trainer reads it from the checkpoint
            elif self.d_padding == "auto":   # valid where the crop holds the critic's field
                self.d_padding = "valid" if smallest >= need else "circular"
            elif smallest < need:
                raise ConfigError(f"--d-padding valid with {len(self.d_widths)} D layers and {max(self.d_scales, 1)} scale(s) "
                                  f"needs {flag} {need} or more, got {smallest}")
        return self


def load_toml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        with p.open("rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {p} is not valid TOML: {e}") from None
    # TOML keys may use dashes like the flags do.
    return {k.replace("-", "_"): v for k, v in raw.items()}


def build_config(cli_values: dict, config_file: str | None = None) -> TrainConfig:
    """Defaults, overridden by the TOML file, overridden by flags the user actually gave."""
    merged = TrainConfig().to_dict()
    if config_file:
        merged.update(load_toml(config_file))
    merged.update({k: v for k, v in cli_values.items() if v is not None})
    return TrainConfig.from_dict(merged).validate()
