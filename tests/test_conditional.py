"""Conditional models end to end: a tiny two-class run (bricks, moss) exported with a class input,
inspected, painted by ONNX Runtime (equal to PyTorch for the same latent and class), by
`texgan generate --class`, `texgan eval --class` and the Blender operator's class_name."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import EXEMPLARS, tiny_config
from helpers import plane_with_material
from texgan.cli import main

CLASSES = ["bricks", "moss"]


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    from gan_core.train import train
    root = tmp_path_factory.mktemp("cond")
    data = root / "data"
    for name in CLASSES:  # one sub-folder per class, each a material folder
        shutil.copytree(EXEMPLARS / name, data / name)
    run = root / "run"
    train(tiny_config(data, run, conditional=True, class_channels=4, steps=2), show_progress=False)
    return run


@pytest.fixture(scope="module")
def cond_onnx(cond_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("cond_onnx") / "cond.onnx"
    assert main(["export", str(cond_run), "--out", str(out)]) == 0
    return out


def test_export_has_class_input_and_inspect_shows_classes(cond_onnx, capsys):
    import onnx
    model = onnx.load(str(cond_onnx))
    onnx.checker.check_model(model, full_check=True)
    ins = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert ins["class_weights"] == ["batch", 2] and ins["latent"][0] == "batch"
    capsys.readouterr()
    assert main(["inspect", str(cond_onnx)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metadata"]["classes"] == CLASSES and doc["metadata"]["class_input"] == "class_weights"
    assert [i["name"] for i in doc["inputs"]] == ["latent", "class_weights"]


def test_ort_equals_pytorch_per_class_and_classes_differ(cond_run, cond_onnx):
    import torch
    from addon.inference import TextureModel, class_weights, sample_latent
    from gan_core.sample import load_generator
    G, _ = load_generator(cond_run)
    model = TextureModel(cond_onnx, device="cpu")
    assert model.classes == CLASSES
    z = sample_latent(model.metadata, 3, 5, 7)
    outs = {}
    for k, name in enumerate(CLASSES):
        onehot = torch.nn.functional.one_hot(torch.tensor([k]), 2).float()
        with torch.no_grad():
            ref = (G(torch.from_numpy(z), onehot).numpy() + 1) / 2
        outs[name] = model.run_latent(z, class_weights(CLASSES, name))
        np.testing.assert_allclose(outs[name], ref, atol=1e-4)
        # generate() by name, index and weights paints the same texture as the raw call
        for choice in (name, k, {name: 1.0}, list(onehot[0].numpy())):
            img = model.generate(5 * model.scale, 7 * model.scale, seed=3, class_weights=choice)
            np.testing.assert_allclose(img, outs[name], atol=1e-5)
    assert np.abs(outs["bricks"] - outs["moss"]).max() > 1e-3
    # a blend is a third texture; tiled inference feeds the same row to every tile
    blend = model.generate(40, 56, seed=1, class_weights="bricks:0.5,moss:0.5")
    tiled = model.generate(40, 56, seed=1, class_weights=[1, 1], tile=16)
    np.testing.assert_allclose(tiled, blend, atol=1e-4)
    with pytest.raises(ValueError, match="bricks.*moss"):
        model.generate(16, 16)
    with pytest.raises(ValueError, match="0=bricks, 1=moss"):
        model.generate(16, 16, class_weights="rock")


def test_generate_cli_class(cond_onnx, tmp_path, capsys):
    out = tmp_path / "t.png"
    assert main(["generate", str(cond_onnx), "--out", str(out), "--size", "32", "--class", "moss", "--no-normal"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t_basecolor.png", "t_height.png", "t_roughness.png"]
    assert main(["generate", str(cond_onnx), "--out", str(tmp_path / "b.png"), "--size", "32",
                 "--class", "bricks:0.5,moss:0.5"]) == 0
    capsys.readouterr()
    assert main(["generate", str(cond_onnx), "--out", str(tmp_path / "x.png"), "--size", "32"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--class" in err[0] and "0=bricks, 1=moss" in err[0]
    assert not list(tmp_path.glob("x*"))


def test_unconditional_model_refuses_class(tiny_onnx, tmp_path, capsys):
    capsys.readouterr()
    assert main(["generate", str(tiny_onnx), "--out", str(tmp_path / "u.png"), "--size", "16",
                 "--class", "moss"]) != 0
    assert "not conditional" in capsys.readouterr().err
    from addon.inference import TextureModel
    model = TextureModel(tiny_onnx, device="cpu")
    assert model.classes == []
    with pytest.raises(ValueError, match="not conditional"):
        model.generate(16, 16, class_weights=0)


def test_eval_class(cond_run, cond_onnx, capsys):
    for source in (cond_run, cond_onnx):
        capsys.readouterr()
        assert main(["eval", str(source), "--exemplar", str(EXEMPLARS / "moss"), "--size", "32", "--count", "2",
                     "--crop", "16", "--class", "moss"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["class"] == "moss" and np.isfinite(report["swd"])
        assert main(["eval", str(source), "--exemplar", str(EXEMPLARS / "moss"), "--size", "32", "--count", "2"]) != 0
        assert "--class" in capsys.readouterr().err


def test_blender_operator_class_name(cond_onnx):
    bpy = pytest.importorskip("bpy")
    import types

    import addon
    from addon import blender_images, nodes, operators, panels, worker
    from addon.inference import TextureModel
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        assert [i[0] for i in panels.class_items(types.SimpleNamespace(model=str(cond_onnx)), None)] == CLASSES
        _, material = plane_with_material()
        model = TextureModel(cond_onnx, device="cpu")
        painted = {}
        for choice in ("moss", ""):  # empty: the first class
            assert bpy.ops.texgan.generate(model=str(cond_onnx), width=24, height=16, seed=2, device='CPU',
                                           class_name=choice) == {'FINISHED'}
            assert material["texgan"]["class"] == (choice or "bricks")
            image = nodes.our_nodes(material)["image:height"].image
            painted[choice] = blender_images.read_pixels(image)[..., 0]
            ref = model.generate(16, 24, seed=2, class_weights=choice or "bricks")[0, 3]
            np.testing.assert_allclose(painted[choice], ref, atol=1e-5)
        assert np.abs(painted["moss"] - painted[""]).max() > 1e-3
        with pytest.raises(RuntimeError, match="rock"):
            bpy.ops.texgan.generate(model=str(cond_onnx), width=16, height=16, class_name="rock")
    finally:
        addon.unregister()
        worker.SESSIONS.clear()
        operators.STATE["last"] = ""
