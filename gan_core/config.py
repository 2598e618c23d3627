"""Training configuration: defaults < TOML file < command-line flags.

Every field here is a `texgan train` flag (underscores become dashes) and a key
in a `--config FILE.toml`; unknown TOML keys are an error, not a silent typo.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """Bad configuration; the CLI prints it as one line."""


@dataclass
class TrainConfig:
    data: str = ""                 # an image, a folder of images, or a folder of material maps
    out: str = ""                  # run directory
    steps: int = 20000             # stop after this many generator steps ...
    max_minutes: float = 0.0       # ... or after this many minutes (0 = no limit), whichever first
    size: int = 64                 # training crop size in pixels (multiple of the generator scale)
    batch: int = 16
    loss: str = "nonsat"           # nonsat | hinge | minimax | wgan | wgan-gp
    arch: str = "texture"          # texture (tileable, default) | dcgan (fixed-size, paper architecture)
    device: str = "auto"           # auto | cpu | cuda
    seed: int = 0
    resume: bool = False
    # optimisation
    lr_g: float = 0.002
    lr_d: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 0.1          # R1 weight (0 = off); applied lazily every r1_every steps
    r1_every: int = 4
    gp_weight: float = 10.0        # WGAN-GP penalty weight
    wgan_clip: float = 0.01        # WGAN weight clipping bound
    n_critic: int = 1              # D steps per G step (5 is the WGAN papers' choice)
    ema_half_life_steps: float = 500.0   # EMA of G weights; ramps up with training length
    # generator / discriminator
    local_channels: int = 16
    global_channels: int = 16
    periodic_channels: int = 4
    g_widths: tuple[int, ...] = (128, 128, 64, 32)
    d_widths: tuple[int, ...] = (64, 128, 256)
    # Salimans et al. 2016 improvements (off by default)
    minibatch_std: bool = False
    label_smoothing: float = 0.0   # one-sided: real label 1 - this
    feature_matching: float = 0.0  # weight of the feature-matching term in the G loss
    # data and augmentation
    wrap_crops: bool = True        # crops wrap around the exemplar edges
    flip_rot: bool = False         # random flips and 90-degree rotations (not for lit/directional textures)
    color_jitter: float = 0.05     # strength of brightness/contrast/saturation jitter (0 = off)
    translate: bool = True         # random wrap-around translation of real and fake (D sees the wrap seam)
    # logging
    sample_every: int = 250
    checkpoint_every: int = 500
    log_every: int = 10
    amp: bool = True               # mixed precision on CUDA

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
            values[k] = v
        return cls(**values)

    def validate(self) -> "TrainConfig":
        from .losses import OBJECTIVES
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
        scale = 2 ** (len(self.g_widths) - 1)
        if self.size < 16 or self.size % scale:
            raise ConfigError(f"--size must be a multiple of the generator scale {scale} and at least 16, got {self.size}")
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
