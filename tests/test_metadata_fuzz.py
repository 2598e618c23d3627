"""A model's metadata is not trusted: every texgan.* key altered (wrong type, out of range, inconsistent with
the graph, missing) gives a one-line error or the correct result, never a traceback or a runaway
allocation, in `texgan inspect`, `texgan generate`, the model library scan and the Generate operator.

"Correct result" means the same pixels as the unaltered model: no key may change what is painted
without being refused.
"""
from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from helpers import plane_with_material

onnx = pytest.importorskip("onnx")

DATA = Path(__file__).resolve().parent / "data"
RGB, COND = DATA / "golden_rgb.onnx", DATA / "golden_cond.onnx"
SIZE = 40                      # not a multiple of the scale (8): the resampling path runs too
PEAK_LIMIT = 64 * 2 ** 20      # numpy allocations during one generate (a 40x40 texture needs well under 1 MB)

_props_cache: dict = {}


def props_of(model: Path) -> dict:
    if model not in _props_cache:
        _props_cache[model] = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    return dict(_props_cache[model])


def latent_with(model, **change) -> str:
    lat = json.loads(props_of(model)["texgan.latent"])
    lat.update(change)
    return json.dumps({k: v for k, v in lat.items() if v is not DELETE})


DELETE = object()


def alterations(model: Path) -> list:
    """(label, key, new value or DELETE)."""
    cases = []
    for key in props_of(model):
        cases.append((f"{key} missing", key, DELETE))
        cases.append((f"{key} wrong type", key, "{not json"))
        cases.append((f"{key} a JSON object", key, '{"a": 1}'))
        cases.append((f"{key} huge", key, str(10 ** 9)))
        cases.append((f"{key} negative", key, "-1"))
    k = "texgan."
    lat = json.loads(props_of(model)[k + "latent"])
    channels = json.loads(props_of(model)[k + "channels"])
    cases += [
        ("scale 100000", k + "scale", "100000"), ("scale 4 (graph: 8)", k + "scale", "4"),
        ("scale 16 (graph: 8)", k + "scale", "16"), ("scale 0", k + "scale", "0"), ("scale 2.5", k + "scale", "2.5"),
        ("radius 10**9", k + "receptive_radius_cells", str(10 ** 9)),
        ("radius 0 (graph reads 4)", k + "receptive_radius_cells", "0"),
        ("radius 65", k + "receptive_radius_cells", "65"),
        ("radius 64 (allowed, wide)", k + "receptive_radius_cells", "64"),
        ("one channel more", k + "channels", json.dumps(channels + ["roughness2"])),
        ("one channel less", k + "channels", json.dumps(channels[:-1])),
        ("channels not names", k + "channels", json.dumps([1, 2, 3])),
        ("channels empty", k + "channels", "[]"),
        ("channels broken triple", k + "channels", json.dumps(["a.r", "a.g"] + channels[2:])),
        ("maps inconsistent", k + "maps", json.dumps([{"name": "x", "channels": [0], "kind": "data"}])),
        ("latent channels +1", k + "latent", latent_with(model, channels=lat["channels"] + 1,
                                                          local=lat["local"] + 1)),
        ("latent local 10**9", k + "latent", latent_with(model, channels=10 ** 9 + lat["channels"] - lat["local"],
                                                          local=10 ** 9)),
        ("latent counts do not add up", k + "latent", latent_with(model, channels=lat["channels"] + 3)),
        ("latent local a string", k + "latent", latent_with(model, local="4")),
        ("latent local a float", k + "latent", latent_with(model, local=4.5)),
        ("wave vectors missing", k + "latent", latent_with(model, wave_vectors=DELETE)),
        ("wave vectors one short", k + "latent", latent_with(model, wave_vectors=lat["wave_vectors"][:-1])),
        ("wave vectors not numbers", k + "latent", latent_with(model, wave_vectors=[["a", "b"]] * lat["periodic"])),
        ("wave vectors infinite", k + "latent", latent_with(model, wave_vectors=[[1e300, 0]] * lat["periodic"])),
        ("unknown recipe", k + "latent", latent_with(model, sampling="texgan-latent/99")),
        ("cell channels on recipe /1", k + "latent", latent_with(model, channels=lat["channels"] + 2, cell=2,
                                                                  cell_shear=0.5)),
        ("cell channels with no shear", k + "latent", latent_with(model, channels=lat["channels"] + 2, cell=2,
                                                                   sampling="texgan-latent/2")),
        ("cell shear 1", k + "latent", latent_with(model, channels=lat["channels"] + 2, cell=2, cell_shear=1.0,
                                                    sampling="texgan-latent/2")),
        ("binary cells, shear below 0", k + "latent", latent_with(model, channels=lat["channels"] + 2, cell=2,
                                                                   cell_shear=-0.1, sampling="texgan-latent/3")),
        ("schema 2", k + "schema_version", "2"), ("schema 0", k + "schema_version", "0"),
        ("classes on an unconditional model", k + "classes", '["a", "b"]'),
        ("tileable false", k + "tileable", "false"),
        ("name multi-line", k + "name", "one\ntwo"),
        ("training a list", k + "training", "[1, 2]"),
    ]
    if "texgan.classes" in props_of(model):
        cases += [("classes one more", k + "classes", '["bricks", "moss", "rock"]'),
                  ("classes duplicated", k + "classes", '["moss", "moss"]'),
                  ("classes not names", k + "classes", "[1, 2]"),
                  ("class input renamed", k + "class_input", "weights")]
    return cases


def altered(model: Path, key: str, value, folder: Path) -> Path:
    m = onnx.load(str(model))
    props = {p.key: p.value for p in m.metadata_props}
    if value is DELETE:
        props.pop(key, None)
    else:
        props[key] = value
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, props)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / model.name
    onnx.save(m, str(path))
    return path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if not line.startswith("texgan: model '")]  # the device line of generate
    assert len(lines) == 1 and lines[0].startswith("texgan: error: "), err
    assert "Traceback" not in lines[0]
    return lines[0]


def read_pixels(folder: Path) -> dict:
    from addon.core.files import read_png
    return {p.name: read_png(p) for p in sorted(folder.glob("*.png"))}


def cli(*args) -> int:
    from texgan.cli import main
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """What the unaltered models paint."""
    out = {}
    for model in (RGB, COND):
        folder = tmp_path_factory.mktemp("ref")
        extra = ["--class", "moss"] if model == COND else []
        assert cli("generate", model, "--out", folder / "t.png", "--size", SIZE, "--device", "cpu", *extra) == 0
        out[model] = read_pixels(folder)
    return out


CASES = [(m, *c) for m in (RGB, COND) for c in alterations(m)]


@pytest.mark.parametrize("model,label,key,value", CASES, ids=[f"{m.stem}: {c[1]}" for m, *c in CASES])
def test_cli_and_library_refuse_or_paint_correctly(tmp_path, capsys, reference, model, label, key, value):
    from addon import library
    path = altered(model, key, value, tmp_path / "m")
    capsys.readouterr()

    rc = cli("inspect", path)
    if rc:
        assert rc == 2
        one_line_error(capsys)
    else:
        json.loads(capsys.readouterr().out)

    out = tmp_path / "out"
    out.mkdir()
    extra = ["--class", "moss"] if model == COND else []
    tracemalloc.start()
    try:
        rc_gen = cli("generate", path, "--out", out / "t.png", "--size", SIZE, "--device", "cpu", *extra)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"{label}: {peak / 2 ** 20:.0f} MB allocated"
    if rc_gen:
        assert rc_gen == 2
        one_line_error(capsys)
        assert not list(out.iterdir()), "a refused model must write nothing"
    else:
        got = read_pixels(out)
        want = reference[model]
        assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want), label
    assert not (rc and rc_gen == 0), f"{label}: generate painted with metadata that inspect refused"

    info = library.describe(path)   # never raises
    assert info.ok == (rc == 0), (label, info.error)
    if not info.ok:
        assert info.error and "\n" not in info.error and "Traceback" not in info.error


# ---------------------------------------------------------------------------------------------- Blender

OPERATOR_CASES = [c for c in CASES if c[1] in {
    "scale 100000", "scale 4 (graph: 8)", "radius 10**9", "radius 0 (graph reads 4)", "one channel more",
    "latent channels +1", "latent local 10**9", "channels broken triple", "classes one more",
    "texgan.latent wrong type", "texgan.channels missing", "texgan.name missing"}]


@pytest.mark.blender
def test_operator_refuses_or_paints_and_never_raises(tmp_path):
    bpy = pytest.importorskip("bpy")
    import addon
    from addon import operators
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        for model, label, key, value in OPERATOR_CASES:
            path = altered(model, key, value, tmp_path / label.replace(" ", "_").replace("*", ""))
            bpy.ops.wm.read_factory_settings(use_empty=True)
            _, mat = plane_with_material()
            try:
                result = bpy.ops.texgan.generate(model=str(path), width=SIZE, height=SIZE, seed=0, device='CPU')
            except RuntimeError as e:  # how bpy.ops hands a script the operator's ERROR report
                assert str(e).startswith("Error: texgan: ") and str(e).count("\n") <= 1, (label, str(e))
                result = {'CANCELLED'}
            line = operators.STATE["last"]
            assert "\n" not in line and "Traceback" not in line, (label, line)
            if result == {'CANCELLED'}:
                assert line.startswith("texgan: ") and "texgan" not in mat.keys(), (label, line)
            else:
                assert result == {'FINISHED'} and label == "texgan.name missing", (label, line)
    finally:
        addon.unregister()


def test_generate_refuses_what_cannot_fit_before_allocating(monkeypatch):
    """The memory estimate runs before the result array exists: on a machine with 1 MiB a 256² texture is
    refused in one line, and a 16² one still paints."""
    from addon.core import model as model_mod
    from addon.core.format import ModelError
    m = model_mod.TextureModel(RGB, device="cpu")
    monkeypatch.setattr(model_mod, "physical_memory_bytes", lambda: 2 ** 20)
    with pytest.raises(ModelError, match=r"needs about .* GiB, more than this machine's"):
        m.generate(256, 256)
    assert m.generate(16, 16).shape == (1, 3, 16, 16)


def test_a_rewritten_file_is_checked_again(tmp_path):
    """The probe runs once per file version (the add-on opens a model several times), so a file
    rewritten in place with other metadata, even at the same size, must be checked anew."""
    from addon.core import model as core_model
    from addon.core.format import ModelError
    path = tmp_path / "m.onnx"
    path.write_bytes(RGB.read_bytes())
    good = core_model.read_metadata(path)
    assert core_model.read_metadata(path) == good
    bad = altered(RGB, "texgan.scale", "4", tmp_path / "bad").read_bytes()
    path.write_bytes(bad)
    with pytest.raises(ModelError, match="scale|px per cell"):
        core_model.read_metadata(path)
    with pytest.raises(ModelError):
        core_model.TextureModel(path, device="cpu")
