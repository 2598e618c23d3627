"""Load a trained run's EMA generator and paint textures with PyTorch (no ONNX needed)."""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import module_state, read_checkpoint
from .models import GeneratorSpec, TextureGenerator


def load_generator(run: str | Path, device: str | torch.device = "cpu") -> tuple[TextureGenerator, dict]:
    """The EMA generator of a run directory (or checkpoint file) and the checkpoint's info dict."""
    tensors, info = read_checkpoint(Path(run))
    if info.get("arch", "texture") == "dcgan":
        from .dcgan import DCGANGenerator
        G = DCGANGenerator.from_info(info)
    else:
        G = TextureGenerator(GeneratorSpec.from_dict(info["g_spec"]))
    G.load_state_dict(module_state(tensors, "G_ema"))
    return G.to(device).eval().requires_grad_(False), info


@torch.no_grad()
def generate(G: TextureGenerator, height: int, width: int, count: int = 1, seed: int = 0) -> torch.Tensor:
    """[count, C, height, width] in [-1, 1]; height and width are rounded up to the generator scale."""
    s = G.scale
    lh, lw = -(-height // s), -(-width // s)
    z = G.sample_latent(count, lh, lw, torch.Generator().manual_seed(seed))
    return G(z)[:, :, :height, :width].float().cpu()
