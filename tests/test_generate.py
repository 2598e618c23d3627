"""`texgan generate` and the bpy-free inference core (addon/inference.py, addon/maps.py)."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from addon.inference import (Cancelled, LatentSampler, ModelError, TextureModel, _normals, cuda_unavailable_reason,
                             sample_latent)
from addon.maps import map_layout, normal_from_height, split_maps, srgb_to_linear
from texgan.cli import main
from texgan.image_io import read_png


@pytest.fixture(scope="module")
def model(tiny_onnx):
    return TextureModel(tiny_onnx, device="cpu")


def seam_ratio(img):
    """Wrap-around neighbour difference over interior neighbour difference, img [C, H, W]."""
    img = img.astype(np.float64)
    inner = np.concatenate([np.abs(np.diff(img, axis=1)).ravel(), np.abs(np.diff(img, axis=2)).ravel()])
    wrap = np.concatenate([np.abs(img[:, 0] - img[:, -1]).ravel(), np.abs(img[:, :, 0] - img[:, :, -1]).ravel()])
    return wrap.mean() / inner.mean()


def test_latent_recipe_is_the_documented_one(model):
    meta = model.metadata
    z = sample_latent(meta, 7, 70, 90)
    assert z.shape == (1, 10, 70, 90) and z.dtype == np.float32
    # local channels: 64x64-cell blocks, block (by, bx) = normals(seed, 0, by, bx), shape [L, 64, 64]
    raw = np.random.PCG64(np.random.SeedSequence([7, 0, 1, 0])).random_raw(2)
    u = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) / 2 ** 53
    first = math.sqrt(-2 * math.log(u[0])) * math.cos(2 * math.pi * u[1])
    assert z[0, 0, 64, 0] == np.float32(first)
    np.testing.assert_array_equal(z[0, :4, 64:, 64:], _normals(4 * 64 * 64, 7, 0, 1, 1).reshape(4, 64, 64)[:, :6, :26])
    assert abs(float(z[0, :4].mean())) < 0.05 and abs(float(z[0, :4].std()) - 1) < 0.05
    # global: one vector, every cell
    np.testing.assert_array_equal(z[0, 4:8], np.broadcast_to(_normals(4, 7, 1)[:, None, None], (4, 70, 90)))
    s = LatentSampler(meta, 7, 70, 90)
    # any window (wrapping past either edge) is a crop of the periodic latent; same seed, same latent
    w = s.window(-9, 80, 85, 200)
    np.testing.assert_array_equal(w, z[:, :, np.arange(-9, 80) % 70][:, :, :, np.arange(85, 200) % 90])
    np.testing.assert_array_equal(sample_latent(meta, 7, 70, 90), z)
    assert not np.array_equal(sample_latent(meta, 8, 70, 90), z)
    with pytest.raises(ValueError, match="seed"):
        sample_latent(meta, -1, 4, 4)


@pytest.mark.parametrize("height,width,tile", [(96, 160, 40), (77, 50, 24), (64, 131, 64)])
def test_tiled_equals_one_shot(model, height, width, tile):
    one = model.generate(height, width, seed=3, tile=4096)
    fractions = []
    tiled = model.generate(height, width, seed=3, tile=tile, progress=fractions.append)
    assert one.shape == tiled.shape == (1, 5, height, width) and one.dtype == np.float32
    assert len(fractions) > 2 and fractions == sorted(fractions) and fractions[-1] == 1.0
    np.testing.assert_allclose(tiled, one, atol=1e-5)
    assert 0.0 <= one.min() and one.max() <= 1.0
    # the halo is what makes it exact: a too-narrow halo shows
    radius, model.radius = model.radius, 1
    try:
        assert np.abs(model.generate(height, width, seed=3, tile=tile) - one).max() > 1e-4
    finally:
        model.radius = radius


def test_any_size_is_seamless_and_counts_are_seeds(model):
    for h, w in [(128, 96), (77, 50)]:  # a multiple of the scale, and one that is resampled
        img = model.generate(h, w, seed=0)[0]
        assert seam_ratio(img) < 1.25, (h, w)
    many = model.generate(40, 40, seed=5, count=3)
    np.testing.assert_allclose(many[2], model.generate(40, 40, seed=7)[0], atol=1e-5)
    assert np.abs(many[0] - many[1]).max() > 1e-3
    codes = model.generate(40, 40, seed=5, dtype=np.uint16)
    assert codes.dtype == np.uint16
    np.testing.assert_allclose(codes / 65535.0, many[:1], atol=1e-4)
    with pytest.raises(Cancelled):
        model.generate(96, 96, tile=32, cancel=lambda: True)
    for bad in [dict(height=0, width=8), dict(height=8, width=-3), dict(height=20000, width=8),
                dict(height=8.5, width=8), dict(height=8, width=8, count=0), dict(height=8, width=8, seed=-2)]:
        with pytest.raises(ValueError):
            model.generate(**bad)


def test_devices_are_reported_never_silent(tiny_onnx):
    m = TextureModel(tiny_onnx, device="auto")
    assert m.providers == list(m.session.get_providers()) and m.device in ("CPU", "CUDA")
    reason = cuda_unavailable_reason()
    if m.device == "CPU":  # on the CPU the reason is kept to show, and it is the probe's when there is one
        assert m.fallback_reason and m.providers == ["CPUExecutionProvider"]
        assert reason is None or m.fallback_reason == reason
    else:  # CUDA in use: first in the session's providers, and no fallback to explain
        assert reason is None and m.providers[0] == "CUDAExecutionProvider" and m.fallback_reason is None
    if reason is not None:
        with pytest.raises(ModelError, match="CUDA was requested"):
            TextureModel(tiny_onnx, device="cuda")
    with pytest.raises(ModelError, match="unknown device"):
        TextureModel(tiny_onnx, device="tpu")


def test_maps_and_normals():
    assert map_layout(["base_color.r", "base_color.g", "base_color.b", "height"]) == [
        {"name": "base_color", "channels": [0, 1, 2], "kind": "color"},
        {"name": "height", "channels": [3], "kind": "data"}]
    arr = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    maps = split_maps(arr, ["base_color.r", "base_color.g", "base_color.b", "height"])
    assert maps["base_color"].shape == (2, 3, 3) and maps["height"].shape == (2, 3)
    np.testing.assert_array_equal(maps["base_color"][..., 1], arr[1])
    # a height ramp rising to the right tilts normals to the left (-x); rising down the image tilts them up (+y, GL)
    x = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    hx = np.tile(0.5 + 0.4 * np.sin(x), (32, 1)).astype(np.float32)
    n = normal_from_height(hx, strength=8.0) * 2 - 1
    assert n[5, 0, 0] < -0.1 and abs(n[5, 0, 1]) < 1e-6 and np.allclose(np.linalg.norm(n, axis=-1), 1, atol=1e-5)
    ny = normal_from_height(hx.T.copy(), strength=8.0) * 2 - 1
    assert ny[0, 5, 1] > 0.1
    flat = normal_from_height(np.full((4, 4), 0.3, np.float32))
    np.testing.assert_allclose(flat, np.broadcast_to([0.5, 0.5, 1.0], (4, 4, 3)))
    # wrap-around: the normal map of a rolled height map is the rolled normal map; uint codes work
    h = np.random.default_rng(0).random((33, 20)).astype(np.float32)
    np.testing.assert_allclose(normal_from_height(np.roll(h, (5, 7), (0, 1)), block_rows=8),
                               np.roll(normal_from_height(h), (5, 7), (0, 1)), atol=1e-6)
    codes = normal_from_height((h * 65535).round().astype(np.uint16), dtype=np.uint8)
    assert codes.dtype == np.uint8 and np.abs(codes / 255.0 - normal_from_height(h)).max() < 0.01


def test_generate_cli_writes_every_map(tiny_onnx, tmp_path, capsys):
    out = tmp_path / "tex.png"
    assert main(["generate", str(tiny_onnx), "--out", str(out), "--size", "72", "--height", "40", "--seed", "2"]) == 0
    captured = capsys.readouterr()
    assert "on CPU" in captured.err and "CPUExecutionProvider" in captured.err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["tex_basecolor.png", "tex_height.png", "tex_normal.png", "tex_roughness.png"]
    modes = {n: Image.open(tmp_path / n).mode for n in names}
    assert modes == {"tex_basecolor.png": "RGB", "tex_height.png": "L", "tex_normal.png": "RGB", "tex_roughness.png": "L"}
    assert Image.open(out.with_name("tex_basecolor.png")).size == (72, 40)
    assert b"sRGB" in out.with_name("tex_basecolor.png").read_bytes()[:64]
    assert b"sRGB" not in out.with_name("tex_height.png").read_bytes()[:64]
    ref = TextureModel(tiny_onnx, device="cpu").generate(40, 72, seed=2)[0]
    np.testing.assert_allclose(read_png(out.with_name("tex_basecolor.png")) / 255.0, ref[:3].transpose(1, 2, 0), atol=0.5 / 255 + 1e-4)
    np.testing.assert_allclose(read_png(out.with_name("tex_roughness.png")) / 255.0, ref[4], atol=0.5 / 255 + 1e-4)

    # 16-bit PNG (RGB too, which Pillow cannot write) and EXR (base colour made scene-linear)
    assert main(["generate", str(tiny_onnx), "--out", str(tmp_path / "d16.png"), "--size", "40", "--seed", "2",
                 "--bits", "16", "--no-normal"]) == 0
    base16 = read_png(tmp_path / "d16_basecolor.png")
    assert base16.dtype == np.uint16 and base16.shape == (40, 40, 3)
    ref = TextureModel(tiny_onnx, device="cpu").generate(40, 40, seed=2)[0]
    np.testing.assert_allclose(base16 / 65535.0, ref[:3].transpose(1, 2, 0), atol=2e-5)
    assert not (tmp_path / "d16_normal.png").exists()
    assert main(["generate", str(tiny_onnx), "--out", str(tmp_path / "e.exr"), "--size", "40", "--seed", "2",
                 "--bits", "32"]) == 0
    with OpenEXR.File(str(tmp_path / "e_basecolor.exr")) as f:
        rgb = f.channels()["RGB"].pixels
    with OpenEXR.File(str(tmp_path / "e_height.exr")) as f:
        height = f.channels()["Y"].pixels
    np.testing.assert_allclose(rgb, srgb_to_linear(ref[:3].transpose(1, 2, 0)), atol=1e-5)
    np.testing.assert_allclose(height, ref[3], atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("e_")) == [
        "e_basecolor.exr", "e_height.exr", "e_normal.exr", "e_roughness.exr"]


def test_same_seed_same_files(tiny_onnx, tiny_rgb_onnx, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    assert main(["generate", str(tiny_rgb_onnx), "--out", str(a / "t.png"), "--size", "48", "--seed", "11",
                 "--count", "3"]) == 0
    assert sorted(p.name for p in a.iterdir()) == ["t_seed11.png", "t_seed12.png", "t_seed13.png"]
    # another process, one texture alone: the same bytes
    r = subprocess.run([sys.executable, "-m", "texgan.cli", "generate", str(tiny_rgb_onnx), "--out", str(b / "t.png"),
                        "--size", "48", "--seed", "12", "--device", "cpu"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in b.iterdir()) == ["t.png"]
    assert (b / "t.png").read_bytes() == (a / "t_seed12.png").read_bytes()
    assert (a / "t_seed11.png").read_bytes() != (a / "t_seed12.png").read_bytes()
    assert Image.open(b / "t.png").mode == "RGB"


def test_bad_generate_inputs_write_nothing(tiny_onnx, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    existing = tmp_path / "tex_height.png"
    existing.write_bytes(b"keep")
    m = str(tiny_onnx)
    cases = [
        (["--size", "0"], "at least 1"),
        (["--size", "64", "--height", "-4"], "at least 1"),
        (["--size", "100000"], "larger than the limit"),
        (["--count", "0"], "--count"),
        (["--seed", "-1"], "seed"),
        (["--out", str(tmp_path / "file" / "t.png")], "not a folder"),
        (["--out", str(tmp_path / "missing" / "t.png")], "does not exist"),
        (["--out", str(tmp_path / "t.jpg")], ".png or .exr"),
        (["--format", "exr"], "--format"),
        (["--bits", "32"], "8 or 16"),
        ([], "already exists"),  # tex_height.png is there: nothing else may be written either
    ]
    for extra, words in cases:
        argv = ["generate", m, "--out", str(tmp_path / "tex.png"), "--size", "16", *extra]
        if "--out" in extra:
            argv = ["generate", m, "--size", "16", *extra]
        assert main(argv) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("texgan: error:") and words in err and err.count("\n") == 1, (extra, err)
    assert main(["generate", str(tmp_path / "file"), "--out", str(tmp_path / "x.png")]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "tex_height.png"]
    assert existing.read_bytes() == b"keep"
    # --force replaces the whole set
    assert main(["generate", m, "--out", str(tmp_path / "tex.png"), "--size", "16", "--force"]) == 0
    assert existing.read_bytes() != b"keep" and len(list(tmp_path.glob("tex_*.png"))) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_side_by_side_onnxruntime_packages_are_named_as_the_reason():
    from addon.inference import ort_packages_clash
    assert ort_packages_clash(installed={"onnxruntime-gpu"}) is None
    assert ort_packages_clash(installed={"onnxruntime"}) is None
    msg = ort_packages_clash(installed={"onnxruntime", "onnxruntime-gpu"})
    assert "both onnxruntime and onnxruntime-gpu" in msg and "pip uninstall" in msg
    assert ort_packages_clash() is None  # this environment has exactly one of them


@pytest.mark.parametrize("system", ["Linux", "Windows", "Darwin"])
def test_pyproject_installs_exactly_one_onnxruntime(system):
    """pyproject names both ONNX Runtime builds; their markers must pick one per platform, never both
    (side by side, one shadows the other and CUDA silently disappears)."""
    import tomllib
    from packaging.requirements import Requirement
    deps = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    env = {"platform_system": system, "python_version": "3.11", "sys_platform": system.lower()}
    ort = [r.name for r in map(Requirement, deps)
           if r.name.startswith("onnxruntime") and (r.marker is None or r.marker.evaluate(env))]
    assert ort == (["onnxruntime"] if system == "Darwin" else ["onnxruntime-gpu"])
