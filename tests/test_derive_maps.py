"""`--derive-maps`: height and roughness derived from one colour photo (gan_core/derive_maps.py).

The procedural exemplars carry their true height and roughness, so the derived maps are scored
against them (Pearson correlation over all pixels); docs/derive-maps.md reports the same figures.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import EXEMPLARS, tiny_config
from gan_core.data import DataError, load_exemplars
from gan_core.derive_maps import LUMA, blur, derive
from texgan.cli import main

MATERIALS = ["bricks", "cobbles", "planks", "moss"]


def _truth(name):
    d = EXEMPLARS / name
    color = np.asarray(Image.open(d / "basecolor.png").convert("RGB"), np.float32) / 255
    height = np.asarray(Image.open(d / "height.png"), np.float64) / 65535
    rough = np.asarray(Image.open(d / "roughness.png"), np.float64) / 255
    return color, height, rough


def pearson(a, b) -> float:
    a, b = np.ravel(a) - np.mean(a), np.ravel(b) - np.mean(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.mark.parametrize("name", MATERIALS)
def test_derived_height_and_roughness_follow_the_true_maps(name):
    color, height, rough = _truth(name)
    maps = derive(color)
    r_h, r_r = pearson(maps["height"], height), pearson(maps["roughness"], rough)
    print(f"{name}: height r={r_h:.3f} roughness r={r_r:.3f}")
    assert r_h >= 0.5, (name, r_h)
    assert r_r >= 0.3, (name, r_r)
    assert maps["height"].shape == height.shape + (1,) and maps["roughness"].shape == rough.shape + (1,)
    for m in maps.values():
        assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1


def test_the_sign_check_flips_light_mortar_only():
    """Light mortar between dark bricks is a bright connected network: bright must be low there.
    On cobbles the dark gaps are the network: kept as is."""
    flips = {}
    for name in ("bricks", "cobbles"):
        info = {}
        derive(_truth(name)[0], info=info)
        flips[name] = info["flipped"]
    assert flips == {"bricks": True, "cobbles": False}


def test_a_larger_photo_of_the_same_surface_gets_the_same_maps():
    """Scales follow the training crop, not the photo's size: a 2x2 tiling of the bricks (as a
    larger photo of the same wall) is judged on windows and gets the same flip and height."""
    color, height, _ = _truth("bricks")
    info = {}
    maps = derive(np.tile(color, (2, 2, 1)), info=info)
    assert info["flipped"] and info["shading_sigma"] == 16
    assert pearson(maps["height"], np.tile(height, (2, 2))) >= 0.85


def test_large_scale_shading_is_removed_and_height_survives_it():
    color, height, _ = _truth("cobbles")
    h, w = height.shape
    yy, xx = np.mgrid[0:h, 0:w]
    light = 0.55 + 0.45 * np.sin(np.pi * xx / w) * np.cos(0.5 * np.pi * (yy / h - 0.5))   # an uneven light
    shaded = np.clip(color * light[..., None], 0, 1).astype(np.float32)
    maps = derive(shaded)

    def large_scale_variation(c):
        lum = blur(c @ LUMA, 32)
        return lum.std() / lum.mean()
    assert large_scale_variation(maps["base_color"]) < 0.5 * large_scale_variation(shaded)
    assert pearson(maps["height"], height) >= 0.5


def test_a_photo_loads_as_a_material_and_a_material_folder_is_refused(tmp_path):
    photo = EXEMPLARS / "moss" / "basecolor.png"
    ex = load_exemplars(photo, derive_maps=True)
    assert ex.channels == load_exemplars(EXEMPLARS / "moss").channels   # same as a material folder
    assert ex.images[0].shape == (5, 256, 256) and ex.images[0].min() >= -1 and ex.images[0].max() <= 1
    with pytest.raises(DataError, match="already has height and roughness"):
        load_exemplars(EXEMPLARS / "moss", derive_maps=True)
    grey = tmp_path / "grey.png"
    Image.open(photo).convert("L").save(grey)
    assert load_exemplars(grey, derive_maps=True).channels == ex.channels


def test_train_derive_maps_then_export_and_generate_paint_every_map(tmp_path, capsys):
    """A photo -> a 5-channel material run with the derived maps in run/derived -> an ONNX
    model -> base colour, height, roughness and a normal map derived from height."""
    from gan_core.train import train
    photo = tmp_path / "photo.jpg"
    Image.open(EXEMPLARS / "planks" / "basecolor.png").save(photo, quality=90)
    run = tmp_path / "run"
    train(tiny_config(photo, run, derive_maps=True), show_progress=False)
    derived = run / "derived"
    assert sorted(p.name for p in derived.iterdir()) == ["basecolor.png", "height.png", "roughness.png"]
    assert Image.open(derived / "height.png").mode.startswith("I")          # 16-bit height
    again = load_exemplars(derived)                                          # trainable as a material folder
    assert again.channels == ["base_color.r", "base_color.g", "base_color.b", "height", "roughness"]
    assert np.abs(again.images[0].numpy() - load_exemplars(photo, derive_maps=True, crop=32).images[0].numpy()).max() < 0.01

    model = tmp_path / "photo.onnx"
    assert main(["export", str(run), "--out", str(model)]) == 0
    assert main(["generate", str(model), "--out", str(tmp_path / "tex.png"), "--size", "48"]) == 0
    for kind in ("basecolor", "height", "roughness", "normal"):
        assert (tmp_path / f"tex_{kind}.png").is_file(), kind


def test_derive_maps_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["train", str(EXEMPLARS / "moss"), "--derive-maps", "--out", str(tmp_path / "r"), "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("texgan: error:") and "--derive-maps" in err and "\n" not in err
    assert main(["train", str(EXEMPLARS), "--derive-maps", "--conditional", "--out", str(tmp_path / "c")]) == 2
    assert "--conditional" in capsys.readouterr().err
