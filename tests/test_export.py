"""`texgan export` and `texgan inspect`: verified single-file ONNX with texgan metadata."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from addon.inference import ModelError, TextureModel, read_metadata, sample_latent
from texgan.cli import main


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".data"))


def test_export_is_one_checked_file_with_dynamic_axes(tiny_onnx):
    assert leftovers(tiny_onnx.parent) == []
    assert sorted(p.name for p in tiny_onnx.parent.iterdir()) == ["tiny.onnx"]  # no .onnx.data
    model = onnx.load(str(tiny_onnx))
    onnx.checker.check_model(model, full_check=True)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("latent", "texture")
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims[0] == "batch" and dims[2] == "height" and dims[3] == "width" and dims[1] == 10
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert model.producer_name == "texgan"


def test_metadata_round_trip(tiny_run, tiny_onnx, capsys):
    from export.onnx_export import weights_sha256
    from gan_core.sample import load_generator
    G, info = load_generator(tiny_run)
    meta = read_metadata(tiny_onnx)
    assert meta["schema_version"] == 1
    assert meta["channels"] == info["channels"] == ["base_color.r", "base_color.g", "base_color.b", "height", "roughness"]
    assert [m["name"] for m in meta["maps"]] == ["base_color", "height", "roughness"]
    assert meta["scale"] == G.scale == 8
    assert meta["value_range"] == [0.0, 1.0] and meta["tileable"] is True
    lat = meta["latent"]
    assert (lat["local"], lat["global"], lat["periodic"], lat["channels"]) == (4, 4, 2, 10)
    np.testing.assert_array_equal(np.float32(lat["wave_vectors"]), G.wave_vectors.detach().numpy())
    assert meta["receptive_radius_cells"] >= G.receptive_radius_cells()
    assert meta["name"] == tiny_run.name and meta["precision"] == "fp32"
    assert meta["training"]["steps"] == info["step"] and meta["training"]["crop_size"] == 32
    assert meta["training"]["exemplars"] == info["exemplars"] and meta["training"]["loss"] == info["config"]["loss"]
    assert meta["weights_sha256"] == weights_sha256(G) and len(meta["weights_sha256"]) == 64
    assert meta["version"]

    assert main(["inspect", str(tiny_onnx)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metadata"] == json.loads(json.dumps(meta))
    assert doc["inputs"][0]["name"] == "latent" and doc["inputs"][0]["shape"] == ["batch", 10, "height", "width"]
    assert doc["outputs"][0]["name"] == "texture" and doc["outputs"][0]["type"] == "tensor(float)"


def test_ort_parity_and_roll(tiny_run, tiny_onnx):
    """Independent of export's own checks: ORT == PyTorch at odd/non-square sizes, and the roll contract."""
    from gan_core.models import periodic_channels
    from gan_core.sample import load_generator
    G, _ = load_generator(tiny_run)
    meta = read_metadata(tiny_onnx)
    sess = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    for batch, h, w in [(2, 5, 7), (1, 11, 3), (3, 8, 8)]:
        z = np.concatenate([sample_latent(meta, s, h, w) for s in range(batch)])
        with torch.no_grad():
            ref = (G(torch.from_numpy(z)).numpy() + 1) / 2
        got = sess.run(None, {"latent": z})[0]
        assert got.shape == (batch, 5, h * 8, w * 8)
        np.testing.assert_allclose(got, ref, atol=1e-4)
    # the numpy periodic channels are the model's own formula with wave vectors snapped to the canvas
    from addon.inference import _uniforms
    z = sample_latent(meta, 4, 9, 14)
    phase = torch.from_numpy(2 * np.pi * _uniforms(2, 4, 2)).float().view(1, 2, 1, 1)
    ref = periodic_channels(G.snapped_wave_vectors(9, 14).detach(), phase, 9, 14)[0].numpy()
    np.testing.assert_allclose(z[0, 8:], ref, atol=1e-4)
    # roll: rolling the latent by (2, 3) cells rolls the image by (16, 24) pixels
    z = sample_latent(meta, 9, 6, 10)
    y = sess.run(None, {"latent": z})[0]
    y2 = sess.run(None, {"latent": np.ascontiguousarray(np.roll(z, (2, 3), axis=(2, 3)))})[0]
    np.testing.assert_allclose(y2, np.roll(y, (16, 24), axis=(2, 3)), atol=1e-5)
    # and a 2x2 tiled latent paints the 2x2 tiling of the image: no seam anywhere
    y4 = sess.run(None, {"latent": np.ascontiguousarray(np.tile(z, (1, 1, 2, 2)))})[0]
    np.testing.assert_allclose(y4, np.tile(y, (1, 1, 2, 2)), atol=1e-5)


def test_noise_model_parity_and_roll(tiny_rgb_run, tiny_rgb_onnx):
    """The default generator (noise maps inside the latent): ORT == PyTorch, and rolling still rolls exactly."""
    from gan_core.sample import load_generator
    G, _ = load_generator(tiny_rgb_run)
    meta = read_metadata(tiny_rgb_onnx)
    assert G.spec.noise_channels == 1 and meta["latent"]["local"] == G.spec.iid_channels > G.spec.local_channels
    sess = ort.InferenceSession(str(tiny_rgb_onnx), providers=["CPUExecutionProvider"])
    z = sample_latent(meta, 5, 7, 9)
    with torch.no_grad():
        ref = (G(torch.from_numpy(z)).numpy() + 1) / 2
    y = sess.run(None, {"latent": z})[0]
    np.testing.assert_allclose(y, ref, atol=1e-4)
    y2 = sess.run(None, {"latent": np.ascontiguousarray(np.roll(z, (3, 4), axis=(2, 3)))})[0]
    np.testing.assert_allclose(y2, np.roll(y, (24, 32), axis=(2, 3)), atol=1e-5)
    # the noise reaches the texture: other noise, same structure channels, another image
    z2 = z.copy()
    z2[:, G.spec.local_channels:G.spec.iid_channels] = sample_latent(meta, 6, 7, 9)[:, G.spec.local_channels:G.spec.iid_channels]
    assert np.abs(sess.run(None, {"latent": z2})[0] - y).max() > 1e-3


def test_fp16_export_loads_and_runs(tiny_run, tiny_onnx, tmp_path, capsys):
    out = tmp_path / "half.onnx"
    assert main(["export", str(tiny_run), "--out", str(out), "--fp16", "--opset", "13", "--name", "Bricks half"]) == 0
    assert "fp16" in capsys.readouterr().out
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 13
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    half, full = TextureModel(out, device="cpu"), TextureModel(tiny_onnx, device="cpu")
    assert half.metadata["precision"] == "fp16" and half.name == "Bricks half"
    a, b = half.generate(48, 40, seed=1), full.generate(48, 40, seed=1)
    assert a.dtype == np.float32 and a.shape == (1, 5, 48, 40)
    np.testing.assert_allclose(a, b, atol=1e-2)
    assert out.stat().st_size < tiny_onnx.stat().st_size


def test_export_refusals_leave_nothing(tiny_run, tiny_onnx, tmp_path, capsys, monkeypatch):
    before = tiny_onnx.read_bytes()
    assert main(["export", str(tiny_run), "--out", str(tiny_onnx)]) == 2
    assert "already exists" in capsys.readouterr().err and tiny_onnx.read_bytes() == before
    for opset, words in [("9", "opset 9"), ("999", "opset 999")]:
        assert main(["export", str(tiny_run), "--out", str(tmp_path / "o.onnx"), "--opset", opset]) == 2
        err = capsys.readouterr().err
        assert err.startswith("texgan: error:") and words in err and err.count("\n") == 1
    assert main(["export", str(tmp_path / "no_run"), "--out", str(tmp_path / "o.onnx")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "o.txt")]) == 2
    # a failing verification writes nothing (not even a temporary file)
    import export.onnx_export as ex
    monkeypatch.setattr(ex, "FP32_TOLERANCE", -1.0)
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "o.onnx")]) == 2
    assert "differs from PyTorch" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    # --force overwrites, atomically (a copy: the session fixture stays untouched)
    target = tmp_path / "copy.onnx"
    target.write_bytes(b"old")
    assert main(["export", str(tiny_run), "--out", str(target), "--force"]) == 0
    assert target.read_bytes() == before and leftovers(tmp_path) == []


def test_inspect_rejects_corrupt_and_foreign_files(tiny_onnx, tmp_path, capsys):
    data = tiny_onnx.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 3])
    (tmp_path / "noise.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    g = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g",
                               [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    onnx.save(onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8),
              str(tmp_path / "foreign.onnx"))
    cases = {"cut.onnx": "corrupt", "noise.onnx": "corrupt", "foreign.onnx": "not a texgan generator",
             "missing.onnx": "no model file"}
    for name, words in cases.items():
        assert main(["inspect", str(tmp_path / name)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("texgan: error:") and words in err and err.count("\n") == 1, err
        with pytest.raises(ModelError):
            TextureModel(tmp_path / name, device="cpu")
    # the installed command, in its own process
    r = subprocess.run([sys.executable, "-m", "texgan.cli", "inspect", str(tmp_path / "foreign.onnx")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not a texgan generator" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("transposed", [True, False])
@pytest.mark.parametrize("num_classes,noise,out_kernel", [(0, 0, 3), (3, 0, 3), (0, 1, 3), (3, 2, 3), (0, 1, 1)])
def test_pad_once_is_the_same_function(num_classes, noise, out_kernel, transposed, monkeypatch):
    """The export graph's generator (latent wrapped once, unpadded convs, noise maps cropped to the
    features' margin, upsampling + conv as one transposed conv or as the two ops, which the synthesis
    bench compares) equals the trained one, for latents smaller than its wrap (1x1) and odd, non-square ones."""
    from export.pad_once import PadOnceGenerator, pad_once
    monkeypatch.setattr(PadOnceGenerator, "transposed_upsampling", transposed)
    from gan_core.models import GeneratorSpec, TextureGenerator
    torch.manual_seed(0)
    G = TextureGenerator(GeneratorSpec(4, 4, 2, 5, (32, 32, 16, 8), num_classes=num_classes,
                                       class_channels=4 if num_classes else 0, noise_channels=noise,
                                       out_kernel=out_kernel)).eval()
    P = pad_once(G)
    assert isinstance(P, PadOnceGenerator) and P.pad >= 1 and P.crop >= 0
    for h, w in [(1, 1), (2, 3), (7, 5)]:
        z = torch.randn(2, G.spec.latent_channels, h, w)
        c = torch.tensor([[1.0, 0, 0], [0.2, 0.3, 0.5]]) if num_classes else None
        with torch.no_grad():
            assert torch.allclose(G(z, c), P(z, c), atol=1e-5), (h, w)


def test_exported_graph_pads_once(tiny_onnx):
    """One wrap of the latent (Gathers), not a Slice + Concat pair around every convolution; each
    upsampling and its convolution one ConvTranspose (its kernel folded to a constant, no Resize)."""
    ops = [n.op_type for n in onnx.load(str(tiny_onnx)).graph.node]
    assert ops.count("Conv") == 6 and ops.count("ConvTranspose") == 3 and ops.count("Gather") >= 2
    assert "Resize" not in ops and "Einsum" not in ops
    assert ops.count("Concat") <= 2   # shape plumbing only, no per-conv padding


def test_exported_graph_stores_each_weight_once(tiny_rgb_run, tiny_rgb_onnx):
    """The graph holds what the function needs: G's weights, with each upsampled conv's 3x3 weight
    for the features replaced by its 4x4 transposed kernel, not both (the file once grew by 0.22 MB so)."""
    from onnx import numpy_helper
    from gan_core.sample import load_generator
    graph = onnx.load(str(tiny_rgb_onnx)).graph
    stored = sum(numpy_helper.to_array(t).size for t in graph.initializer)
    stored += sum(numpy_helper.to_array(a.t).size for n in graph.node if n.op_type == "Constant"
                  for a in n.attribute if a.name == "value")
    G, _ = load_generator(tiny_rgb_run)
    needed = sum(p.numel() for name, p in G.named_parameters() if name != "wave_vectors")   # waves: metadata
    noise = G.spec.noise_channels
    assert noise   # a noise model: its maps have their own slice of each upsampled conv's weight
    upsampled = [m[1][0] for m in G.body[1 + G.spec.latent_blocks:]]   # each level's first conv
    needed += sum(7 * c.out_channels * (c.in_channels - noise) for c in upsampled)   # 16 taps instead of 9
    assert needed <= stored < needed * 1.02 + 4096


def test_per_pixel_output_conv_trains_and_exports(tmp_path):
    """--g-out-kernel 1: the last conv mixes colour per pixel; export's parity, roll and halo checks hold."""
    from conftest import EXEMPLARS, tiny_config
    from gan_core.sample import load_generator
    from gan_core.train import train
    train(tiny_config(EXEMPLARS / "planks" / "basecolor.png", tmp_path / "run", g_out_kernel=1), show_progress=False)
    G, _ = load_generator(tmp_path / "run")
    assert G.to_texture.kernel_size == (1, 1)
    model = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "run"), "--out", str(model)]) == 0
    assert int(read_metadata(str(model))["receptive_radius_cells"]) >= G.receptive_radius_cells()
