"""The starter library the extension ships: real texgan models, small, seamless, listed by the library."""
from pathlib import Path

import numpy as np
import pytest

from addon import library
from addon.inference import TextureModel
from gan_core.metrics import seam_ratio

MODELS = sorted(library.BUILTIN_DIR.glob("*.onnx"))


def test_the_extension_ships_a_starter_library():
    assert {p.stem for p in MODELS} >= {"bricks", "cobbles", "planks", "moss"}
    total = sum(p.stat().st_size for p in library.BUILTIN_DIR.iterdir() if p.is_file())
    assert total < 8 * 2**20, f"starter library is {total / 2**20:.1f} MB; keep it to a few MB"


def test_library_lists_every_starter_model_with_thumbnail():
    infos = {Path(i.path).stem: i for i in library.Library().scan(folders=()) if i.builtin}
    for p in MODELS:
        info = infos[p.stem]
        assert info.ok, info.error
        assert info.channels[:3] == ["base_color.r", "base_color.g", "base_color.b"]
        assert info.thumbnail and Path(info.thumbnail).is_file()


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_starter_model_paints_a_varied_seamless_texture(path):
    import torch
    model = TextureModel(path, device="cpu", threads=1)
    assert model.metadata["training"]["exemplars"], "trained on the project's own exemplars"
    out = model.generate(256, 256, seed=3, count=6)
    assert out.shape == (6, len(model.channels), 256, 256) and np.isfinite(out).all()
    base = np.ascontiguousarray(out[:, :3], dtype=np.float64)
    assert base.std() > 0.03, "a flat texture: the model did not learn"
    assert np.abs(base[0] - base[1]).mean() > 0.01, "two seeds gave the same texture"
    # One wrap row/column pair per image is a noisy statistic (a plank seam may land on it): average seeds.
    assert np.mean([seam_ratio(torch.from_numpy(b)) for b in base]) < 1.25
