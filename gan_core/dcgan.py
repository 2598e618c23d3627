"""DCGAN (Radford, Metz & Chintala 2015): the paper's fixed-size 64x64 generator and discriminator.

For comparison with the tileable texture generator and for non-texture image sets
(`texgan train --arch dcgan --size 64`). Not tileable (zero padding, a 1x1 latent), so
the ONNX exporter refuses these runs; sample them with `gan_core.sample`.

    G: z [B, 100, 1, 1] -> ConvTranspose 4x4 (1 -> 4) -> 4x ConvTranspose 4x4 stride 2 (to 64),
       BatchNorm + ReLU after every layer but the last, tanh output.
    D: 64x64 -> Conv 4x4 stride 2 (LeakyReLU 0.2, no BatchNorm on the first layer) x4
       (BatchNorm on the rest) -> Conv 4x4 valid -> one logit per image.
Widths follow the paper's 1024-512-256-128 pattern scaled by `base` (paper: 128; default 64,
which is the common PyTorch reference size). Weights are initialised from N(0, 0.02),
BatchNorm gains from N(1, 0.02), as in the paper.

The trainer-facing interface matches TextureGenerator: `sample_latent(batch, h, w, gen)`
(h and w are ignored: the latent is one cell), `G(z)`, `.spec.to_dict()`, `.scale`
(64: pixels per latent cell) and `receptive_radius_cells()`; D has `.features(x)`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

SIZE = 64


@dataclass
class DCGANSpec:
    latent_dim: int = 100
    out_channels: int = 3
    base: int = 64                # width of the last G layer / first D layer

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DCGANSpec":
        return cls(**{k: v for k, v in d.items() if k in ("latent_dim", "out_channels", "base")})

    # Shared names with GeneratorSpec, so code reading `spec.latent_channels` / `spec.scale` works.
    @property
    def latent_channels(self) -> int:
        return self.latent_dim

    @property
    def scale(self) -> int:
        return SIZE


@dataclass
class DCGANDiscriminatorSpec:
    in_channels: int = 3
    base: int = 64
    minibatch_std: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, spec: DCGANSpec):
        super().__init__()
        self.spec = spec
        b = spec.base
        widths = [b * 8, b * 4, b * 2, b]
        layers: list[nn.Module] = [nn.ConvTranspose2d(spec.latent_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], spec.out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_init)

    @classmethod
    def from_info(cls, info: dict) -> "DCGANGenerator":
        return cls(DCGANSpec.from_dict(info["g_spec"]))

    @property
    def scale(self) -> int:
        return SIZE

    def receptive_radius_cells(self) -> int:
        return 0  # one cell is the whole image; there are no neighbours

    def sample_latent(self, batch: int, height: int = 1, width: int = 1,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, 1) of shape [B, latent_dim, 1, 1] (height/width are ignored: fixed size)."""
        dev = next(self.parameters()).device
        return torch.randn(batch, self.spec.latent_dim, 1, 1, generator=generator).to(dev)

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if z.shape[2:] != (1, 1):
            raise ValueError(f"DCGAN takes a [B, {self.spec.latent_dim}, 1, 1] latent, got {tuple(z.shape)}")
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    def __init__(self, spec: DCGANDiscriminatorSpec):
        super().__init__()
        self.spec = spec
        b = spec.base
        widths = [b, b * 2, b * 4, b * 8]
        layers: list[nn.Module] = [nn.Conv2d(spec.in_channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)         # [B, 8b, 4, 4]
        extra = 1 if spec.minibatch_std else 0
        self.head = nn.Conv2d(widths[-1] + extra, 1, 4, 1, 0, bias=False)   # -> [B, 1, 1, 1] logit
        self.apply(_init)

    def forward(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[2:] != (SIZE, SIZE):
            raise ValueError(f"the DCGAN discriminator takes {SIZE}x{SIZE} images, got {tuple(x.shape[2:])}")
        h = self.features(x)
        if self.spec.minibatch_std:
            from .models import minibatch_stddev
            h = minibatch_stddev(h)
        return self.head(h)


def build_dcgan(cfg, out_channels: int) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    """The paper's G and D for `--arch dcgan` (cfg.size must be 64; dcgan_base sets the width)."""
    base = getattr(cfg, "dcgan_base", 64)
    G = DCGANGenerator(DCGANSpec(100, out_channels, base))
    D = DCGANDiscriminator(DCGANDiscriminatorSpec(out_channels, base, cfg.minibatch_std))
    return G, D
