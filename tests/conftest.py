"""Shared fixtures: tiny real runs and models, trained on the built-in exemplar in seconds."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXEMPLARS = ROOT / "gan_core" / "exemplars"


def tiny_config(data, out, **overrides):
    from gan_core.config import TrainConfig
    values = dict(data=str(data), out=str(out), steps=3, size=32, batch=4, local_channels=4, global_channels=4,
                  periodic_channels=2, g_widths=(32, 32, 16, 8), d_widths=(16, 32, 32), sample_every=2,
                  checkpoint_every=2, log_every=1, seed=0, g_noise=0)
    # g_noise=0 pins the 10-channel latent layout the format tests spell out; tiny_rgb_run keeps the
    # shipped default (noise maps), so generate, the add-on and export also run a noise model end to end.
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A real 3-step run on the bricks material (5 channels: base colour, height, roughness)."""
    from gan_core.train import train
    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny_config(EXEMPLARS / "bricks", out), show_progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_rgb_run(tmp_path_factory) -> Path:
    """A real 3-step run on a plain RGB image, with the default noise maps."""
    from gan_core.config import TrainConfig
    from gan_core.train import train
    out = tmp_path_factory.mktemp("runs") / "tiny_rgb"
    train(tiny_config(EXEMPLARS / "planks" / "basecolor.png", out, g_noise=TrainConfig.g_noise), show_progress=False)
    return out


def _export(run, out, *extra):
    from texgan.cli import main
    assert main(["export", str(run), "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_onnx(tiny_run, tmp_path_factory) -> Path:
    """tiny_run exported (fp32) with `texgan export`."""
    return _export(tiny_run, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="session")
def tiny_rgb_onnx(tiny_rgb_run, tmp_path_factory) -> Path:
    """tiny_rgb_run exported (fp32) with `texgan export`."""
    return _export(tiny_rgb_run, tmp_path_factory.mktemp("onnx") / "tiny_rgb.onnx")
