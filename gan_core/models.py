"""Generators and discriminators.

The texture generator is fully convolutional with wrap-around (circular) padding
in every spatial op, so it is exactly translation-equivariant on a torus: rolling
the latent by k cells rolls the image by k * scale pixels, and the output tiles
at any size. Its latent has three parts (SGAN / PSGAN):

    local    i.i.d. N(0, 1) per cell       -> detail that varies across the image
    global   one N(0, 1) vector per sample  -> the look shared by the whole image
    periodic sin(2*pi*(k . cell) + phase)   -> regular structure (bricks, tiles)
    cell     one vector per lattice cell      -> each tile or brick its own look; each value
             +1 or -1 (binary: a tile is blue or white, not between) or N(0, 1) (normal, the first recipe)

The cell part exists only with two periodic channels fixed to a measured grid, waves [k_a, k_row]:
u = k . cell + phase / 2 pi; rows are floor(u_row), and within a row, cells are cut across the row
direction: col = floor(u_a + shear * frac(u_row)) (shear 0.5 staggers a running bond). The partition
follows the periodic channels exactly, so G knows where in its tile it paints and what tone the tile has.

Optional noise inputs (StyleGAN's per-resolution noise, kept inside the latent): extra i.i.d.
local channels that depth-to-space turns into one noise map per upsampled level, fed next to
that level's features. Fine detail then has its own random source instead of being unfolded
from the coarse latent, and since each noise pixel belongs to one latent cell, rolling the
latent still rolls the image exactly. To a consumer these are just more local channels.

The periodic wave vectors are learned. They are snapped to whole periods across
the latent canvas (straight-through for gradients) so periodic inputs wrap
seamlessly too; consumers get the learned vectors from the model's metadata.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import torch
from torch import nn
from torch.nn import functional as F


class SpecDict:
    """JSON round trip of a spec dataclass (checkpoints and metadata store specs; widths as lists)."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict):
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return cls(**d)


@dataclass
class GeneratorSpec(SpecDict):
    local_channels: int = 16
    global_channels: int = 16
    periodic_channels: int = 4
    out_channels: int = 3
    widths: tuple[int, ...] = (128, 128, 64, 32)  # one upsampling per step after the first
    # Conditional generator (0 = unconditional): a learned class embedding of class_channels
    # values, broadcast over the latent canvas and fed next to the latent (constant over the
    # canvas, so tiling and the roll contract are unchanged). Not part of latent_channels.
    num_classes: int = 0
    class_channels: int = 0
    # Extra conv blocks at latent resolution: each widens G's field by 2 cells (2*scale px) at
    # 1/scale^2 of the pixel cost, which is where large structure (stones, bricks) is decided.
    latent_blocks: int = 0
    # Grey exemplar: paint one channel and repeat it, so R = G = B exactly (no invented colour).
    grey: bool = False
    # Trained at 1/upsample of the exemplar's resolution (large structure): the output is
    # upsampled by this power of two (bilinear, wrap-around) to paint at the exemplar's scale.
    upsample: int = 1
    # Noise maps per upsampled level (0 = none); level i takes noise_channels * 4**i local channels.
    noise_channels: int = 0
    # Per-lattice-cell channels (needs periodic_channels == 2 fixed to a grid; see the module doc).
    cell_channels: int = 0
    cell_values: str = "normal"   # binary (+1 / -1) or normal (N(0, 1)); runs from before the choice: normal
    # Kernel of the last conv, features -> colour. 1 (StyleGAN's toRGB) mixes colour per pixel, so every
    # channel's edges sit where the features' do; 3 lets each channel draw its own edge (colour fringes).
    out_kernel: int = 3

    @property
    def noise_latent_channels(self) -> int:
        return sum(self.noise_channels * 4 ** i for i in range(1, len(self.widths)))

    @property
    def iid_channels(self) -> int:
        """All i.i.d. per-cell channels: the local ones and those that become noise maps."""
        return self.local_channels + self.noise_latent_channels

    @property
    def latent_channels(self) -> int:
        return self.iid_channels + self.global_channels + self.periodic_channels + self.cell_channels

    @property
    def scale(self) -> int:
        return 2 ** (len(self.widths) - 1) * self.upsample

    @property
    def work_scale(self) -> int:
        """Pixels per latent cell at the training resolution."""
        return 2 ** (len(self.widths) - 1)



def wrap_conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode="circular")


class PixelNorm(nn.Module):
    """Per-pixel feature normalisation (ProGAN). Local, so tiling stays exact."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        wrap_conv(cin, cout), nn.LeakyReLU(0.2), PixelNorm(),
        wrap_conv(cout, cout), nn.LeakyReLU(0.2), PixelNorm(),
    )


class TextureGenerator(nn.Module):
    """Spatial latent [B, C, h, w] -> texture [B, out_channels, h*scale, w*scale] in [-1, 1]."""

    # Training runs each upsampling level as one transposed convolution (upsampled_conv): the same
    # function as export's and sampling's nearest upsampling + 3x3 conv. bench/train_speed.py turns it off to compare.
    transposed_upsampling = True

    def __init__(self, spec: GeneratorSpec):
        super().__init__()
        self.spec = spec
        w = spec.widths
        cond = spec.class_channels if spec.num_classes else 0
        self.body = nn.ModuleList([conv_block(spec.latent_channels - spec.noise_latent_channels + cond, w[0])])
        for _ in range(spec.latent_blocks):
            self.body.append(conv_block(w[0], w[0]))
        if spec.num_classes:
            self.class_embed = nn.Parameter(torch.randn(spec.num_classes, spec.class_channels))
        for cin, cout in zip(w[:-1], w[1:]):
            self.body.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                           conv_block(cin + spec.noise_channels, cout)))
        self.to_texture = wrap_conv(w[-1], 1 if spec.grey else spec.out_channels, spec.out_kernel)
        # Wave vectors in cycles per latent cell, spread over useful periods (2..16 cells).
        p = spec.periodic_channels
        angle = torch.rand(p) * math.pi
        period = 2.0 ** (1 + 3 * torch.rand(p))
        self.wave_vectors = nn.Parameter(torch.stack([angle.cos(), angle.sin()], 1) / period[:, None])
        if spec.cell_channels:
            if p != 2:
                raise ValueError("cell channels need exactly two periodic channels (a grid)")
            self.register_buffer("cell_shear", torch.zeros(()))   # set from the measured grid; saved with the weights

    @property
    def scale(self) -> int:
        return self.spec.scale

    @torch.no_grad()
    def init_output_mean(self, mean: torch.Tensor) -> None:
        """Start from the exemplar's mean value per channel ([C] in [-1, 1]): shift the output bias
        until the untrained G, on random latents, paints that mean. Its first steps then go to
        structure, not to finding the palette. (Conditional models keep the default start: their
        offset differs per class.)"""
        if self.spec.num_classes:
            return
        target = torch.atanh(mean.reshape(-1)[:1 if self.spec.grey else None].clamp(-0.95, 0.95))
        features = self.run_body(self.sample_latent(4, 8, 8, torch.Generator().manual_seed(0)))[-1]
        for _ in range(3):   # tanh bends the mean: a few fixed-point steps on the painted mean
            painted = torch.tanh(self.to_texture(features)).mean(dim=(0, 2, 3)).clamp(-0.99, 0.99)
            self.to_texture.bias.add_(target.to(painted) - torch.atanh(painted))

    def receptive_radius_cells(self) -> int:
        """How many latent cells around a cell can change its pixels (for tiled inference halos)."""
        radius = 2.0 * (1 + self.spec.latent_blocks)  # two 3x3 convs per block at latent resolution
        for level in range(1, len(self.spec.widths)):
            radius += 2.0 / 2 ** level  # two 3x3 convs per upsampled level
        radius += (self.spec.out_kernel // 2) / self.spec.work_scale  # final conv
        radius += 1.0 / self.spec.work_scale if self.spec.upsample > 1 else 0.0  # bilinear taps
        return math.ceil(radius) + 1  # +1 for nearest-upsampling cell alignment

    def snapped_wave_vectors(self, height: int, width: int) -> torch.Tensor:
        """Wave vectors rounded to whole periods across an h x w canvas (exact wrap)."""
        k = self.wave_vectors
        size = torch.tensor([width, height], dtype=k.dtype, device=k.device)
        snapped = torch.round(k * size) / size
        return k + (snapped - k).detach()  # straight-through: learn the continuous vector

    def sample_latent(self, batch: int, height: int, width: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw a latent on the CPU (reproducible across devices), then move it to the model."""
        s, dev = self.spec, self.wave_vectors.device
        local = torch.randn(batch, s.iid_channels, height, width, generator=generator)
        glob = torch.randn(batch, s.global_channels, 1, 1, generator=generator).expand(-1, -1, height, width)
        cycles = torch.rand(batch, s.periodic_channels, 1, 1, generator=generator)
        phase = cycles * (2 * math.pi)
        parts = [local.to(dev), glob.to(dev)]
        if s.periodic_channels:
            parts.append(periodic_channels(self.snapped_wave_vectors(height, width), phase.to(dev), height, width))
        if s.cell_channels:
            counts = snapped_counts(self.wave_vectors.detach().cpu(), height, width)
            index, cells = lattice_cells(counts, cycles[:, :, 0, 0].double(), float(self.cell_shear), height, width)
            table = torch.randn(batch, s.cell_channels, cells, generator=generator)
            if s.cell_values == "binary":
                table = torch.where(table >= 0, 1.0, -1.0)
            flat = index.reshape(batch, 1, -1).expand(-1, s.cell_channels, -1)
            parts.append(table.gather(2, flat).reshape(batch, s.cell_channels, height, width).to(dev))
        return torch.cat(parts, dim=1)

    def class_input(self, classes: torch.Tensor | None, batch: int, height: int, width: int) -> torch.Tensor:
        """[B, class_channels, h, w] from class ids [B] (int) or class weights [B, K] (float rows,
        one-hot for one class; other rows blend classes). None means class 0."""
        dev = self.class_embed.device
        if classes is None:
            classes = torch.zeros(batch, dtype=torch.long, device=dev)
        if not classes.is_floating_point():
            classes = F.one_hot(classes.long().to(dev), self.spec.num_classes)
        emb = classes.to(self.class_embed) @ self.class_embed
        return emb[:, :, None, None].expand(-1, -1, height, width)

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None, full_res: bool = True) -> torch.Tensor:
        """z [B, latent_channels, h, w]; classes only for conditional models (see class_input).
        full_res=False skips the output upsampling: the image at the training resolution, what D judges."""
        x = self.run_body(z, classes)[-1]
        return self.finish(self.to_texture(x), full_res)

    def split_latent(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """z -> (the body's input, one noise map [B, noise_channels, h*2**i, w*2**i] per upsampled level i)."""
        s = self.spec
        if not s.noise_channels:
            return z, []
        body_in = torch.cat([z[:, :s.local_channels], z[:, s.iid_channels:]], dim=1)
        maps, start = [], s.local_channels
        for i in range(1, len(s.widths)):
            n = s.noise_channels * 4 ** i
            maps.append(F.pixel_shuffle(z[:, start:start + n], 2 ** i))
            start += n
        return body_in, maps

    def run_body(self, z: torch.Tensor, classes: torch.Tensor | None = None, blocks: int | None = None) -> list[torch.Tensor]:
        """Outputs of the first `blocks` body blocks (all by default), in order."""
        x, noise = self.split_latent(z)
        if self.spec.num_classes:
            x = torch.cat([x, self.class_input(classes, z.shape[0], z.shape[2], z.shape[3]).to(z)], dim=1)
        outs, first_up = [], 1 + self.spec.latent_blocks
        for i, block in enumerate(self.body[:blocks]):
            level_noise = noise[i - first_up].to(x) if noise and i >= first_up else None
            if i < first_up:
                x = block(x)
            elif self.training and self.transposed_upsampling:   # the same function, faster (upsampled_conv)
                x = block[1][1:](upsampled_conv(x, block[1][0], level_noise))
            elif level_noise is not None:
                x = block[1](torch.cat([block[0](x), level_noise], dim=1))
            else:
                x = block(x)
            outs.append(x)
        return outs

    def finish(self, x: torch.Tensor, full_res: bool = True) -> torch.Tensor:
        """Output conv result -> image: tanh, upsampling to the exemplar's scale, grey repeated."""
        x = torch.tanh(x)
        if full_res and self.spec.upsample > 1:
            x = upsample_wrap(x, self.spec.upsample)
        return x.expand(-1, self.spec.out_channels, -1, -1) if self.spec.grey else x

    def stage_features(self, z: torch.Tensor, stages: int, classes: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Outputs of the first `stages` resolution levels (level i works at latent size * 2**i;
        the latent-resolution blocks all count as level 0); progressive growing puts its own
        output heads on these."""
        lb = self.spec.latent_blocks
        return self.run_body(z, classes, stages + lb)[lb:]


# A 3x3 tap on a nearest x2 upsampled image reads low-resolution offset 0 or 1 of its 2x2 footprint,
# depending on the output pixel's phase. Rows: the four taps of a stride-2 transposed kernel
# (phase 1 reading i+1, phase 0 reading i, phase 1 reading i, phase 0 reading i-1); columns: the 3x3 taps.
_UPSAMPLED_TAPS = torch.tensor([[0.0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])


def upsampling_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A 3x3 conv weight [cout, cin, 3, 3] -> the [cin, cout, 4, 4] kernel of the stride-2 transposed
    convolution that equals nearest x2 upsampling followed by that conv."""
    taps = _UPSAMPLED_TAPS.to(weight)
    return torch.einsum("pk,ql,oikl->iopq", taps, taps, weight)


def upsampled_conv(x: torch.Tensor, conv: nn.Conv2d, extra: torch.Tensor | None = None) -> torch.Tensor:
    """conv(cat(nearest_upsample_x2(x), extra)) for a circular 3x3 conv, computed as one stride-2
    transposed convolution of x: 4 taps per output pixel instead of 9 on a 4x larger image, and no
    upsampled copy. Exact up to float rounding; `extra` (noise maps at the output size) keeps its 3x3 conv."""
    cin, (h, w) = x.shape[1], x.shape[2:]
    y = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="circular"), upsampling_kernel(conv.weight[:, :cin]),
                           stride=2, padding=1)
    y = y[:, :, 2:2 + 2 * h, 2:2 + 2 * w]
    if extra is not None:
        y = y + F.conv2d(F.pad(extra, (1, 1, 1, 1), mode="circular"), conv.weight[:, cin:])
    return y + conv.bias[:, None, None]


def upsample_wrap(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear upsampling of [B, C, H, W] by `factor` on a torus: pad one pixel by wrapping,
    upsample, crop, so the result is periodic and rolls exactly with the input."""
    x = torch.cat([x[:, :, -1:], x, x[:, :, :1]], dim=2)
    x = torch.cat([x[:, :, :, -1:], x, x[:, :, :, :1]], dim=3)
    y = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    return y[:, :, factor:-factor, factor:-factor]


def periodic_channels(wave_vectors: torch.Tensor, phase: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """sin(2*pi*(kx*x + ky*y) + phase) on the cell grid; wave_vectors [P, 2], phase [B, P, 1, 1]."""
    ys = torch.arange(height, dtype=wave_vectors.dtype, device=wave_vectors.device)
    xs = torch.arange(width, dtype=wave_vectors.dtype, device=wave_vectors.device)
    arg = wave_vectors[:, 0, None, None] * xs[None, None, :] + wave_vectors[:, 1, None, None] * ys[None, :, None]
    return torch.sin(2 * math.pi * arg[None] + phase)


def snapped_counts(wave_vectors: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Whole periods across an h x w canvas per wave vector: int64 [P, 2] as (n_x, n_y)."""
    size = torch.tensor([width, height], dtype=torch.float32)
    return torch.round(wave_vectors.float() * size).long()


def cell_lattice_basis(counts: torch.Tensor, height: int, width: int) -> tuple[int, int, int]:
    """The canvas' own periods in (row, col) cell coordinates, in Hermite form (A, B), (0, D): moving
    w cells right shifts (row, col) by (n_row_x, n_a_x), h cells down by (n_row_y, n_a_y). Cells that
    differ by these shifts are one cell, so the A * D distinct cells tile the canvas."""
    (ax, ay), (rx, ry) = [[int(v) for v in row] for row in counts]
    g, u, v = extended_gcd(rx, ry)
    d = abs((ry // g) * ax - (rx // g) * ay) if g else 0   # (r_y / g) shift_x - (r_x / g) shift_y: row part 0
    if d == 0:   # a canvas too small to hold whole cells both ways: one cell, one value
        return 0, 0, 0
    return g, (u * ax + v * ay) % d, d


def extended_gcd(a: int, b: int) -> tuple[int, int, int]:
    """(g, u, v) with u*a + v*b = g = gcd(a, b) >= 0 (by the modular inverse; the numpy recipe in
    addon/core/latent.py runs Euclid's loop, and the tests check both lay out the same cells)."""
    g = math.gcd(a, b)
    if g == 0:
        return 0, 0, 0
    a, b = a // g, b // g
    if abs(b) <= 1:                       # b = 0 leaves a = +-1; b = +-1 solves it with u = 0
        return (g, a, 0) if b == 0 else (g, 0, b)
    u = pow(a, -1, abs(b))
    return g, u, (1 - u * a) // b


def lattice_cells(counts: torch.Tensor, phase_cycles: torch.Tensor, shear: float, height: int,
                  width: int) -> tuple[torch.Tensor, int]:
    """Which lattice cell each latent cell lies in: int64 [B, h, w] indices into A * D cells, and A * D.
    counts [2, 2] (the waves k_a, k_row snapped to the canvas), phase_cycles [B, 2] float64 in [0, 1).
    Integer arithmetic for the whole periods and float64 for the rest, as in addon/core/latent.py."""
    B = phase_cycles.shape[0]
    ys = torch.arange(height, dtype=torch.int64)[:, None]
    xs = torch.arange(width, dtype=torch.int64)[None, :]
    whole, part = [], []
    for nx, ny in counts.tolist():
        num = nx * xs * height + ny * ys * width           # k . cell = num / (w h), exactly
        whole.append(torch.div(num, width * height, rounding_mode="floor"))
        part.append((num - whole[-1] * width * height).double() / (width * height))
    f_row = part[1][None] + phase_cycles[:, 1, None, None]
    row = whole[1][None] + torch.floor(f_row).long()
    col = whole[0][None] + torch.floor(part[0][None] + phase_cycles[:, 0, None, None]
                                      + shear * (f_row - torch.floor(f_row))).long()
    A, Bh, D = cell_lattice_basis(counts, height, width)
    if D == 0:
        return torch.zeros_like(row).expand(B, height, width), 1
    r = torch.remainder(row, A)
    c = torch.remainder(col - torch.div(row - r, A, rounding_mode="floor") * Bh, D)
    return (r * D + c).expand(B, height, width), A * D


@dataclass
class DiscriminatorSpec(SpecDict):
    in_channels: int = 3
    widths: tuple[int, ...] = (64, 128, 256)
    minibatch_std: bool = False
    spectral_norm: bool = True     # off for WGAN with weight clipping (the paper's critic)
    num_classes: int = 0           # > 0: projection discriminator (Miyato & Koyama 2018)
    # > 1: pix2pixHD-style multi-scale D: one patch D per octave of the image, each on the image
    # downsampled 2**k, so the coarse ones judge structure larger than one patch D can see.
    scales: int = 1
    padding: str = "circular"      # circular (a crop is a torus) | valid (no padding: only the crop's pixels)



def sn(module: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(module)


class PatchDiscriminator(nn.Module):
    """Spectral-normalised patch discriminator: image -> map of real/fake logits.

    Each logit judges a ~50 px patch, which is what a texture is made of; padding
    wraps around so the border of a crop looks like any other place.
    """

    def __init__(self, spec: DiscriminatorSpec):
        super().__init__()
        self.spec = spec
        norm = sn if spec.spectral_norm else (lambda m: m)
        pad = 0 if spec.padding == "valid" else 1
        layers: list[nn.Module] = []
        cin = spec.in_channels
        for cout in spec.widths:
            layers += [norm(nn.Conv2d(cin, cout, 4, stride=2, padding=pad, padding_mode="circular")), nn.LeakyReLU(0.2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        extra = 1 if spec.minibatch_std else 0
        self.head = norm(nn.Conv2d(cin + extra, 1, 3, padding=pad, padding_mode="circular"))
        if spec.num_classes:
            self.class_embed = norm(nn.Embedding(spec.num_classes, cin))

    def forward(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        feat = h
        if self.spec.minibatch_std:
            h = minibatch_stddev(h)
        out = self.head(h)
        if self.spec.num_classes:
            if classes is None:
                raise ValueError("a conditional discriminator needs class ids")
            # Projection: each position's logit gains <embed(y), features at that position>.
            out = out + (self.class_embed(classes.long())[:, :, None, None] * feat).sum(1, keepdim=True)
        return out


class MultiScaleDiscriminator(nn.Module):
    """Patch discriminators on an image pyramid (Wang et al. 2018, pix2pixHD).

    D_k sees the image average-pooled by 2**k, so its field covers 2**k times as many pixels.
    The logit maps are returned as one [B, scales, h, w] tensor, coarse maps repeated
    (nearest) up to the finest map's size: every loss and penalty that averages logits
    then weighs each scale equally, exactly as a per-scale mean would, and the trainer
    needs no special case. Pooling wraps nothing, but each D pads circularly, so the
    wrap-around contract of the generator is judged at every scale.
    """

    def __init__(self, spec: DiscriminatorSpec):
        super().__init__()
        self.spec = spec
        single = DiscriminatorSpec(**{**spec.to_dict(), "widths": tuple(spec.widths), "scales": 1})
        self.ds = nn.ModuleList([PatchDiscriminator(single) for _ in range(spec.scales)])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.ds[0].features(x)   # the finest scale's (feature matching)

    def forward(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        maps = []
        for k, d in enumerate(self.ds):
            maps.append(d(F.avg_pool2d(x, 2 ** k) if k else x, classes))
        h, w = maps[0].shape[2:]
        return torch.cat([m if m.shape[2:] == (h, w) else F.interpolate(m, size=(h, w), mode="nearest")
                          for m in maps], dim=1)


def valid_input_min(layers: int) -> int:
    """The smallest image a padding-free patch D of `layers` stride-2 4x4 convs and a 3x3 head accepts."""
    size = 3
    for _ in range(layers):
        size = 2 * size + 2
    return size


def build_discriminator(spec: DiscriminatorSpec) -> nn.Module:
    return MultiScaleDiscriminator(spec) if spec.scales > 1 else PatchDiscriminator(spec)


def minibatch_stddev(h: torch.Tensor) -> torch.Tensor:
    """Append the batch's mean feature std as a channel (ProGAN), so D can spot collapse."""
    std = h.float().std(dim=0, unbiased=False).mean().to(h.dtype)
    return torch.cat([h, std.expand(h.shape[0], 1, h.shape[2], h.shape[3])], dim=1)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)
