"""The texture generator rewritten for export: wrap the latent once, then valid convolutions.

The trained generator pads every 3x3 convolution circularly (1 px). Exported as is, each pad
becomes Slice + Concat over the full feature map, and ONNX Runtime's profiler puts those at
about a quarter of synthesis time on the CPU (docs/benchmarks.md). Here the latent is wrapped
once by P cells (a Gather with indices mod h, w, cheap at latent resolution), every convolution
runs unpadded, and the margin left at the end is cropped. Each nearest x2 upsampling and the 3x3
convolution after it run as one stride-2 transposed convolution (gan_core/models.py: upsampled_conv,
what training runs): 4 taps per output pixel instead of 9 on the upsampled map, and no upsampled copy.

It computes the same function: on a periodic input a circular-padded convolution equals an
unpadded one on the periodic extension, and the layers in between (LeakyReLU, PixelNorm,
nearest upsampling) act per pixel or commute with the extension. Noise maps (GeneratorSpec.noise_channels)
come from the wrapped latent by depth-to-space, so they carry a wider margin than the features
they join; they are cropped to the features' margin there. Export checks it against
the trained generator anyway (parity at several sizes and the roll test). The price is the
margin's extra work: P is the smallest that leaves no negative margin, a few per cent of the
FLOPs at 512 px and less at larger sizes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_core.models import PixelNorm, TextureGenerator, upsampling_kernel

# Layers that act per pixel (or, for nearest upsampling, commute with the periodic extension).
_POINTWISE = (nn.LeakyReLU, PixelNorm)


def _layers(G: TextureGenerator) -> list[nn.Module] | None:
    """G's body and output conv in execution order, or None when a layer is not understood."""
    layers = [m for block in G.body for m in block.modules() if not isinstance(m, nn.Sequential)]
    layers.append(G.to_texture)
    for m in layers:
        if isinstance(m, nn.Conv2d):
            if m.stride != (1, 1) or m.dilation != (1, 1) or m.padding_mode != "circular" \
                    or m.kernel_size[0] != m.kernel_size[1] or m.padding != (m.kernel_size[0] // 2,) * 2:
                return None
        elif isinstance(m, nn.Upsample):
            if m.mode != "nearest" or m.scale_factor not in (2, 2.0):
                return None
        elif not isinstance(m, _POINTWISE):
            return None
    after_upsampling = [b for a, b in zip(layers, layers[1:]) if isinstance(a, nn.Upsample)]
    if any(not isinstance(m, nn.Conv2d) or m.kernel_size != (3, 3) for m in after_upsampling):
        return None   # the transposed form (upsampling_kernel) is built for a 3x3 conv after each upsampling
    return layers


def _final_margin(layers: list[nn.Module], pad: int) -> int | None:
    """Pixels of margin left after the layers when the latent is wrapped by `pad` cells;
    None if some convolution would run out of margin."""
    m = pad
    for layer in layers:
        if isinstance(layer, NoiseInput):
            continue
        if isinstance(layer, nn.Conv2d):
            m -= layer.kernel_size[0] // 2
            if m < 0:
                return None
        elif isinstance(layer, nn.Upsample):
            m *= 2
    return m


def _wrap(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Periodic extension by `pad` cells on each side, for any latent size (even smaller than pad)."""
    h, w = x.shape[2], x.shape[3]
    rows = torch.remainder(torch.arange(-pad, h + pad, device=x.device), h)
    cols = torch.remainder(torch.arange(-pad, w + pad, device=x.device), w)
    return x.index_select(2, rows).index_select(3, cols)


class NoiseInput:
    """Marker in the layer list: here level `level`'s noise map joins the features (concat)."""

    def __init__(self, level: int):
        self.level = level


def _noise_inputs(G: TextureGenerator, layers: list[nn.Module]) -> list:
    """The layer list with a NoiseInput after each upsampling, for generators with noise maps."""
    if not G.spec.noise_channels:
        return layers
    out, level = [], 0
    for m in layers:
        out.append(m)
        if isinstance(m, nn.Upsample):
            level += 1
            out.append(NoiseInput(level))
    return out


class PadOnceGenerator(nn.Module):
    """G's function with one wrap of the latent; shares G's parameters, except that the transposed
    kernels are made here once from G's weights (so the exported graph holds them as constants)."""

    # Each upsampling + conv as one transposed convolution; bench/synthesis.py turns it off to compare.
    transposed_upsampling = True

    def __init__(self, G: TextureGenerator, layers: list[nn.Module]):
        super().__init__()
        self.G = G
        self.layers = layers
        self.pad = next(p for p in range(1, 64) if _final_margin(layers, p) is not None)
        self.crop = _final_margin(layers, self.pad)
        # For each conv after an upsampling, layer index -> [cin, cout, 4, 4] for the features and the
        # noise maps' own [cout, noise, 3, 3] slice. Both are made here, so the graph stores them and not
        # also the conv's whole 3x3 weight (which a slice inside forward would keep as an initializer).
        self.up_kernels, self.noise_kernels = {}, {}
        noise_in = G.spec.noise_channels
        for i, (a, b) in enumerate(zip(layers, layers[1:])):
            if isinstance(a, nn.Upsample):
                conv_at = i + 2 if isinstance(b, NoiseInput) else i + 1
                conv = layers[conv_at]
                cin = conv.in_channels - noise_in
                with torch.no_grad():
                    self.up_kernels[conv_at] = upsampling_kernel(conv.weight[:, :cin])
                    self.noise_kernels[conv_at] = conv.weight[:, cin:].detach().clone()

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        G = self.G
        x = z
        if G.spec.num_classes:
            x = torch.cat([z, G.class_input(classes, z.shape[0], z.shape[2], z.shape[3]).to(z)], dim=1)
        x, noise = G.split_latent(_wrap(x, self.pad))
        upsampled, level_noise = False, None   # an upsampling waits for its convolution
        for i, layer in enumerate(self.layers):
            if isinstance(layer, NoiseInput):
                n = noise[layer.level - 1]
                size = 2 * x.shape[2] if upsampled else x.shape[2]
                c = (n.shape[2] - size) // 2   # the map's margin is pad * 2**level, the features' smaller
                n = n[:, :, c:n.shape[2] - c, c:n.shape[3] - c].to(x)
                if upsampled:
                    level_noise = n
                else:
                    x = torch.cat([x, n], dim=1)
            elif isinstance(layer, nn.Upsample) and self.transposed_upsampling:
                upsampled = True
            elif isinstance(layer, nn.Conv2d) and upsampled:
                x = _upsampled_valid_conv(x, layer, self.up_kernels[i], self.noise_kernels[i], level_noise)
                upsampled, level_noise = False, None
            elif isinstance(layer, nn.Conv2d):
                x = F.conv2d(x, layer.weight, layer.bias)
            else:
                x = layer(x)
        c = self.crop
        if c:
            x = x[:, :, c:x.shape[2] - c, c:x.shape[3] - c]
        return G.finish(x)


def _upsampled_valid_conv(x: torch.Tensor, conv: nn.Conv2d, kernel: torch.Tensor, extra_kernel: torch.Tensor,
                          extra: torch.Tensor | None) -> torch.Tensor:
    """conv2d(cat(nearest_upsample_x2(x), extra)), unpadded, as one stride-2 transposed convolution of x
    with `kernel` = upsampling_kernel(conv's weight for x); padding 2 drops the two rows and columns on
    each side that the unpadded 3x3 conv does not reach. `extra` (a noise map at the upsampled size)
    keeps its own 3x3 conv, `extra_kernel` (conv's weight for it)."""
    y = F.conv_transpose2d(x, kernel.to(x), conv.bias, stride=2, padding=2)
    if extra is not None:
        y = y + F.conv2d(extra, extra_kernel.to(extra))
    return y


def pad_once(G: nn.Module) -> nn.Module:
    """PadOnceGenerator(G) for a texture generator whose layers it understands, else G itself."""
    if not isinstance(G, TextureGenerator):
        return G
    layers = _layers(G)
    return G if layers is None else PadOnceGenerator(G, _noise_inputs(G, layers))
