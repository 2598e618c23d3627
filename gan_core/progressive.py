"""Progressive growing (Karras et al. 2018) for the tileable texture generator.

The texture generator's body blocks already work at growing resolutions: block i paints at
latent size * 2**i. Progressive training starts with the image taken from an early block
(e.g. 16 px for a 64 px crop), then adds one block per stage. While a new block comes in,
its output is faded in over the previous block's (upsampled) output:

    image = (1 - alpha) * up2(head_{i-1}(block_{i-1})) + alpha * head_i(block_i),  alpha 0 -> 1

Real crops are always cut at the full --size and area-downsampled to the stage's resolution
(blended the same way during a fade), so every stage sees the same field of view, coarse
first. The discriminator is fully convolutional and needs no growing: at low resolution
each of its logits simply sees a larger share of the crop.

The intermediate output heads (one 3x3 wrap-around conv per early block) live here, outside
the generator: the last stage uses the generator's own `to_texture`, so the trained model is
the plain TextureGenerator, identical in structure to a non-progressive one (export,
inference and `--resume` without --progressive do not care). The heads are kept in the run
directory as `progressive.safetensors` while training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .models import TextureGenerator, wrap_conv

HEADS_NAME = "progressive.safetensors"


class ProgressiveHeads(nn.Module):
    """One output head per body block except the last (which uses G.to_texture)."""

    def __init__(self, G: TextureGenerator):
        super().__init__()
        w, c = G.spec.widths, G.spec.out_channels
        self.heads = nn.ModuleList([wrap_conv(w[i], c) for i in range(len(w) - 1)])


@dataclass
class Stage:
    block: int       # index of the newest body block in use
    alpha: float     # fade-in weight of that block's output (1 = fully in)
    size: int        # image size in px at this stage

    @property
    def fading(self) -> bool:
        return self.alpha < 1.0


class Schedule:
    """Which block and fade weight a given step trains, from the config."""

    def __init__(self, cfg, G: TextureGenerator):
        self.latent = cfg.size // G.scale
        self.last = len(G.spec.widths) - 1
        self.first = int(round(math.log2(cfg.progressive_start / self.latent)))
        self.n_stages = self.last - self.first + 1
        self.stage_steps = cfg.progressive_stage_steps or max(1, math.ceil(cfg.steps / self.n_stages))
        self.fade = cfg.progressive_fade

    def at(self, step: int) -> Stage:
        k = min(step // self.stage_steps, self.n_stages - 1)
        block = self.first + k
        within = step - k * self.stage_steps
        fade_steps = self.fade * self.stage_steps
        alpha = 1.0 if k == 0 or fade_steps <= 0 else min(1.0, within / fade_steps)
        return Stage(block, alpha, self.latent * 2 ** block)


def generate(G: TextureGenerator, heads: ProgressiveHeads, z: torch.Tensor, stage: Stage,
             classes: torch.Tensor | None = None) -> torch.Tensor:
    """The stage's image [B, C, latent*2**block, ...]; at the last stage, fully faded in, this is G(z)."""
    last = len(G.body) - 1
    if stage.block == last and not stage.fading:
        return G(z, classes) if G.spec.num_classes else G(z)
    feats = G.stage_features(z, stage.block + 1, classes)

    def head(i):
        return G.to_texture if i == last else heads.heads[i]

    new = torch.tanh(head(stage.block)(feats[stage.block]))
    if not stage.fading:
        return new
    old = torch.tanh(head(stage.block - 1)(feats[stage.block - 1]))
    return torch.lerp(F.interpolate(old, scale_factor=2, mode="nearest"), new, stage.alpha)


def real_at(real: torch.Tensor, stage: Stage) -> torch.Tensor:
    """Full-size real crops brought to the stage's resolution (and faded like the fakes)."""
    factor = real.shape[-1] // stage.size
    x = F.avg_pool2d(real, factor) if factor > 1 else real
    if stage.fading:
        coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = torch.lerp(coarse, x, stage.alpha)
    return x
