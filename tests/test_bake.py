"""`texgan bake`: recipes, jobs, manifest/resume, sharding, Cycles bakes — real bpy, real models.

Scenes are built inside the tests with the bpy module; models are the tiny exported fixtures.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

from addon import bake  # noqa: E402
from texgan.cli import main  # noqa: E402
from texgan.image_io import read_png  # noqa: E402
from helpers import bake_scene, recipe_toml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}

MATERIALS = ["Brick_A", "Brick_B", "Stone", "Metal"]


def build_scene(path: Path, n_objects: int = 6, no_uv: tuple = ()) -> Path:
    """Spheres and cubes with UVs; materials cycle over MATERIALS (so Brick_A is shared)."""
    return bake_scene(path, MATERIALS, n_objects, no_uv)


def write_recipe(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def sha(path) -> str:
    return bake.file_sha256(path)


def outputs_by_path(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    return {o["path"]: o for o in report["outputs"]}


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    return build_scene(tmp_path_factory.mktemp("scene") / "yard.blend")


def full_recipe(tmp: Path, model: Path, rgb_model: Path, bake_block: bool = True) -> Path:
    bricks = {"name": "bricks", "materials": "Brick_*", "bit_depth": 16}
    if bake_block:
        bricks["bake"] = {"size": 32, "margin": 4}
    return write_recipe(tmp / "recipe.toml", recipe_toml(
        11, {"model": str(model), "size": 48, "maps": ["base_color", "normal", "roughness", "height"]}, [
            bricks,
            {"name": "stone", "materials": ["Stone"], "format": "exr", "maps": ["base_color", "roughness"]},
            {"name": "metal objects", "objects": "Obj_03", "model": str(rgb_model), "seed_policy": "fixed", "seed": 5,
             "size": [40, 24], "maps": ["base_color"]}]))


def test_bake_scene_files_seeds_and_wiring(tmp_path, scene, tiny_onnx, tiny_rgb_onnx, capsys):
    recipe = full_recipe(tmp_path, tiny_onnx, tiny_rgb_onnx)
    out = tmp_path / "out"
    source_sha = sha(scene)
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "yard [" in err  # a progress bar per scene
    assert sha(scene) == source_sha  # the source is never touched by default

    outputs = outputs_by_path(out)
    expected = {f"yard/{m}_{k}.png" for m in ("Brick_A", "Brick_B") for k in ("base_color", "normal", "roughness", "height")}
    expected |= {"yard/Stone_base_color.exr", "yard/Stone_roughness.exr", "yard/Metal_base_color.png"}
    # Brick_A is on Obj_00 and Obj_04, Brick_B on Obj_01 and Obj_05: four baked objects.
    expected |= {f"yard/baked/Obj_{i:02d}_{k}.png" for i in (0, 1, 4, 5) for k in ("base_color", "normal", "roughness")}
    assert set(outputs) == expected
    for rel, o in outputs.items():
        assert (out / rel).is_file() and sha(out / rel) == o["sha256"]
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] and report["jobs"] == 4 and not report["errors"]

    # Seeds: per material = stable hash of recipe seed + name; fixed = the rule's seed.
    assert outputs["yard/Brick_A_base_color.png"]["seed"] == bake.derive_seed(11, "material", "Brick_A")
    assert outputs["yard/Brick_A_base_color.png"]["objects"] == ["Obj_00", "Obj_04"]
    assert outputs["yard/Metal_base_color.png"]["seed"] == 5
    assert outputs["yard/baked/Obj_04_normal.png"]["object"] == "Obj_04"
    assert outputs["yard/Brick_A_base_color.png"]["model_sha256"] == sha(tiny_onnx)
    assert all(o["seconds"] >= 0 for o in outputs.values())

    # Pixels are exactly what the model paints for that seed (16-bit PNG, sizes honoured).
    from addon.inference import TextureModel
    model = TextureModel(tiny_onnx, device="cpu")
    ref = model.generate(48, 48, seed=bake.derive_seed(11, "material", "Brick_A"))[0]
    got = read_png(out / "yard/Brick_A_base_color.png")
    assert got.dtype == np.uint16 and got.shape == (48, 48, 3)
    want = np.rint(ref[:3].transpose(1, 2, 0) * 65535)
    assert np.abs(got.astype(int) - want).max() <= 1  # Blender's own float -> 16-bit rounding
    rough = read_png(out / "yard/Brick_A_roughness.png")
    assert rough.shape == (48, 48) and np.abs(rough.astype(int) - np.rint(ref[4] * 65535)).max() <= 1
    assert read_png(out / "yard/Metal_base_color.png").shape == (24, 40, 3)
    assert read_png(out / "yard/baked/Obj_00_base_color.png").shape == (32, 32, 3)
    baked = read_png(out / "yard/baked/Obj_00_base_color.png").astype(float)
    assert abs(baked.mean() - got.mean()) < 0.15 * 65535  # the bake saw the synthesised texture

    # The saved .blend: wired with the add-on's nodes, images relative to it, one material per job.
    saved = out / "yard_texgan.blend"
    bpy.ops.wm.open_mainfile(filepath=str(saved))
    from addon import nodes
    mat = bpy.data.materials["Brick_A"]
    ours = nodes.our_nodes(mat)
    assert {"image:base_color", "image:normal", "image:roughness", "image:height", "bump", "normal_map"} <= set(ours)
    bsdf = nodes.find_principled(mat)
    assert bsdf.inputs["Base Color"].links[0].from_node == ours["image:base_color"]
    assert bsdf.inputs["Roughness"].links[0].from_node == ours["image:roughness"]
    assert bsdf.inputs["Normal"].links[0].from_node == ours["bump"]
    img = ours["image:base_color"].image
    assert img.filepath == "//yard/Brick_A_base_color.png" and img.colorspace_settings.name == "sRGB"
    assert tuple(img.size) == (48, 48)  # the file loads from the saved location
    assert nodes.our_nodes(bpy.data.materials["Stone"])["image:base_color"].image.filepath.endswith(".exr")
    assert mat["texgan"]["seed"] == bake.derive_seed(11, "material", "Brick_A")
    assert bpy.data.objects["Obj_03"].active_material.name == "Metal"
    assert "texgan bake io" not in bpy.data.scenes
    assert not any(n.get("texgan_role") == "bake_target" for m in bpy.data.materials for n in m.node_tree.nodes)


def test_blender_script_entry_gives_identical_outputs(tmp_path, scene, tiny_onnx, tiny_rgb_onnx):
    """`blender -b -P addon/bake/__main__.py -- ...` path: the script bootstraps its package and runs run_bake."""
    recipe = full_recipe(tmp_path, tiny_onnx, tiny_rgb_onnx, bake_block=False)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(a), "--no-progress"]) == 0
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}  # the script must find the add-on itself
    r = subprocess.run([PY, str(ROOT / "addon" / "bake" / "__main__.py"), "--", str(scene), "--recipe", str(recipe),
                        "--out", str(b), "--no-progress"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    oa, ob = outputs_by_path(a), outputs_by_path(b)
    assert set(oa) == set(ob) and all(oa[k]["sha256"] == ob[k]["sha256"] for k in oa)
    assert (b / "yard_texgan.blend").is_file()
    bad = subprocess.run([PY, str(ROOT / "addon" / "bake" / "__main__.py"), "--", str(scene), "--recipe", str(tmp_path / "nope.toml"),
                          "--out", str(b)], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "recipe not found" in bad.stderr


def test_shards_cover_every_job_once(tmp_path, scene, tiny_onnx, tiny_rgb_onnx):
    recipe = full_recipe(tmp_path, tiny_onnx, tiny_rgb_onnx, bake_block=False)
    whole = tmp_path / "whole"
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(whole), "--no-progress"]) == 0
    all_jobs = sorted(p.name for p in (whole / "manifest").iterdir())
    seen = []
    shared = tmp_path / "shared"
    for i in (1, 2, 3):
        own = tmp_path / f"shard{i}"
        assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(own), "--shard", f"{i}/3",
                     "--no-progress"]) == 0
        seen += [p.name for p in (own / "manifest").iterdir()] if (own / "manifest").exists() else []
        assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(shared), "--shard", f"{i}/3",
                     "--no-progress"]) == 0
    assert sorted(seen) == all_jobs  # each job in exactly one shard
    report = json.loads((shared / "report.json").read_text())
    assert report["complete"] and report["shard"] == "3/3"
    ow, os_ = outputs_by_path(whole), outputs_by_path(shared)
    assert {k: v["sha256"] for k, v in ow.items()} == {k: v["sha256"] for k, v in os_.items()}
    # The split is a pure function of the sorted job keys.
    jobs = [type("J", (), {"key": k})() for k in ("b:1", "a:2", "a:1", "c:9", "b:0")]
    parts = [[j.key for j in bake.shard_jobs(jobs, (i, 2))] for i in (1, 2)]
    assert parts == [["a:1", "b:0", "c:9"], ["a:2", "b:1"]]
    with pytest.raises(bake.BakeError, match="numbered 1 to N"):
        bake.parse_shard("0/4")


# `texgan bake` that, once a manifest records a finished Cycles bake, touches argv[1] and waits to be killed.
PAUSE_AFTER_FIRST_BAKE = """
import sys, threading
from addon.bake import manifest, run
from texgan.cli import main
ready, real_write_json = sys.argv[1], run.write_json
def write_json(path, data):
    real_write_json(path, data)
    if isinstance(data, dict) and data.get("bakes"):
        open(ready, "w").close()
        threading.Event().wait()
# Both modules that record manifests bound write_json at import; patch each binding.
run.write_json = manifest.write_json = write_json
sys.exit(main(sys.argv[2:]))
"""


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    """Until `path` exists; fails (with the child's stderr) if the child ends first or never gets there."""
    deadline = time.monotonic() + timeout  # a hang guard only; the test's logic never depends on timing
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before {path.name}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {path.name} after {timeout} s")
        time.sleep(0.05)


def test_killed_bake_resumes_to_identical_outputs(tmp_path, tiny_onnx, tiny_rgb_onnx):
    blend = build_scene(tmp_path / "big.blend", n_objects=8)
    recipe = write_recipe(tmp_path / "r.toml", f"""
seed = 3
[defaults]
model = "{tiny_onnx}"
size = 160
seed_policy = "per_object"
maps = ["base_color", "normal", "roughness", "height"]
bake = {{ size = 96, margin = 8 }}
[[rule]]
objects = "Obj_*"
""")
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert main(["bake", str(blend), "--recipe", str(recipe), "--out", str(ref), "--no-progress"]) == 0
    cmd = [PY, "-m", "texgan.cli", "bake", str(blend), "--recipe", str(recipe), "--out", str(out), "--no-progress"]
    # The first run stops itself right after its first Cycles bake is recorded in a manifest (a file
    # handshake, not a race with the clock), and is SIGKILLed there: mid-run, with more work pending.
    ready = tmp_path / "first-bake-recorded"
    proc = subprocess.Popen([PY, "-c", PAUSE_AFTER_FIRST_BAKE, str(ready), *cmd[3:]], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_file(ready, proc, timeout=300)
    finally:
        if proc.poll() is None:  # a failed wait has already reaped it; keep that failure visible
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "report.json").exists()
    recorded = sum(len(json.loads(p.read_text()).get("bakes", {})) for p in (out / "manifest").glob("*.json"))
    assert recorded == 1  # killed with seven of the eight objects' bakes still to do
    finished_before = {str(p): p.stat().st_mtime_ns for p in out.rglob("*.png")}
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got, want = outputs_by_path(out), outputs_by_path(ref)
    assert {k: v["sha256"] for k, v in got.items()} == {k: v["sha256"] for k, v in want.items()}
    assert not list(out.rglob("*.tmp*")) and not list(out.rglob(".*.tmp*"))  # no half-written files left
    # Work finished before the kill was kept, not redone.
    kept = [p for p in out.rglob("*.png") if finished_before.get(str(p)) == p.stat().st_mtime_ns]
    assert kept
    stamps = {str(p): p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".png", ".json") and p.name != "report.json"}
    # A third run does nothing at all.
    r = subprocess.run(cmd[:-1], env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipped (done before)" in r.stderr and ": done" not in r.stderr
    assert stamps == {str(p): p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".png", ".json") and p.name != "report.json"}


def _bad(tmp_path, scene, body, capsys) -> str:
    recipe = write_recipe(tmp_path / "bad.toml", body)
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("texgan: error:")
    return err


def test_bad_recipes_give_clear_errors(tmp_path, scene, tiny_onnx, capsys):
    ok = f'[[rule]]\nmaterials = "Brick_*"\nmodel = "{tiny_onnx}"\nsize = 32\n'
    err = _bad(tmp_path, scene, ok.replace("size = 32", "size = 32\nsise = 64"), capsys)
    assert "rule[1].sise: unknown key" in err
    err = _bad(tmp_path, scene, "colour = 1\n" + ok, capsys)
    assert "colour: unknown key" in err
    err = _bad(tmp_path, scene, ok + "bake = { margn = 3 }\n", capsys)
    assert "rule[1].bake.margn: unknown key" in err
    err = _bad(tmp_path, scene, ok.replace(str(tiny_onnx), "models/missing.onnx"), capsys)
    assert "model file not found" in err and "missing.onnx" in err
    err = _bad(tmp_path, scene, ok.replace("Brick_*", "Marble*"), capsys)
    assert "rule 1" in err and "no material matches Marble*" in err
    for size, words in (("0", "from 1 to 16384"), ("20000", "from 1 to 16384"), ('"big"', "whole number"),
                        ("[64]", "[width, height]"), ("12.5", "whole number")):
        err = _bad(tmp_path, scene, ok.replace("size = 32", f"size = {size}"), capsys)
        assert "rule[1].size" in err and words in err
    err = _bad(tmp_path, scene, ok + 'format = "jpg"\n', capsys)
    assert "format must be one of png, exr" in err
    err = _bad(tmp_path, scene, ok + 'format = "png"\nbit_depth = 32\n', capsys)
    assert "PNG takes 8 or 16" in err
    err = _bad(tmp_path, scene, ok.replace('materials', 'objects').replace("Brick_*", "Obj_01") +
               'seed_policy = "per_frame"\n', capsys)
    assert "seed_policy must be one of fixed, per_object, per_material" in err
    err = _bad(tmp_path, scene, ok + 'maps = ["base_color", "sparkle"]\n', capsys)
    assert "cannot make map 'sparkle'" in err
    err = _bad(tmp_path, scene, ok + 'seed_policy = "per_object"\n', capsys)
    assert "needs an 'objects' rule" in err
    err = _bad(tmp_path, scene, "[[rule]\n", capsys)
    assert "not valid TOML" in err
    assert not (tmp_path / "o" / "manifest").exists()  # nothing was made


def test_objects_without_uvs(tmp_path, tiny_onnx, capsys):
    blend = build_scene(tmp_path / "flat.blend", n_objects=2, no_uv=("Obj_01",))
    body = f'[[rule]]\nobjects = "Obj_*"\nmodel = "{tiny_onnx}"\nsize = 32\nmaps = ["base_color", "roughness"]\n'
    err = _bad(tmp_path, blend, body + "bake = { size = 24 }\n", capsys)
    assert "object 'Obj_01'" in err and "no UV map" in err and "smart_project" in err
    recipe = write_recipe(tmp_path / "uv.toml", body + 'bake = { size = 24, uv = "smart_project", maps = ["base_color"] }\n')
    out = tmp_path / "uv"
    assert main(["bake", str(blend), "--recipe", str(recipe), "--out", str(out), "--no-progress"]) == 0
    assert read_png(out / "flat" / "baked" / "Obj_01_base_color.png").shape == (24, 24, 3)
    bpy.ops.wm.open_mainfile(filepath=str(out / "flat_texgan.blend"))
    assert len(bpy.data.objects["Obj_01"].data.uv_layers) == 1


# ----------------------------------------------------------------------------------------
# Conditional models: recipe 'class'
# ----------------------------------------------------------------------------------------

COND_CLASSES = ["bricks", "moss"]


@pytest.fixture(scope="module")
def cond_onnx(tmp_path_factory) -> Path:
    """A tiny two-class conditional model (bricks, moss), trained and exported as in test_conditional.py."""
    import shutil

    from conftest import EXEMPLARS, tiny_config
    from gan_core.train import train
    root = tmp_path_factory.mktemp("cond")
    for name in COND_CLASSES:  # one sub-folder per class
        shutil.copytree(EXEMPLARS / name, root / "data" / name)
    train(tiny_config(root / "data", root / "run", conditional=True, class_channels=4, steps=2), show_progress=False)
    out = root / "cond.onnx"
    assert main(["export", str(root / "run"), "--out", str(out)]) == 0
    return out


def class_recipe(path: Path, model: Path, stone_class: str) -> Path:
    # One seed for every job ('fixed'), so Brick_A and Stone differ only by their class.
    return write_recipe(path, f"""
[defaults]
model = "{model}"
class = "moss"
size = 32
maps = ["base_color", "height"]
bit_depth = 16
seed_policy = "fixed"
seed = 9

[[rule]]
name = "mossy bricks"
materials = "Brick_*"

[[rule]]
name = "stone"
materials = "Stone"
class = "{stone_class}"
""")


def test_class_paints_that_class_and_a_new_class_rerenders(tmp_path, scene, cond_onnx, capsys):
    from addon.inference import TextureModel
    out = tmp_path / "out"
    recipe = class_recipe(tmp_path / "r.toml", cond_onnx, "bricks")
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(out)]) == 0
    capsys.readouterr()

    # The pixels are what the model paints for that seed and class (16-bit PNG), and the classes differ.
    model = TextureModel(cond_onnx, device="cpu")
    got = {m: read_png(out / f"yard/{m}_base_color.png").astype(int) for m in ("Brick_A", "Stone")}
    for mat, cls in (("Brick_A", "moss"), ("Stone", "bricks")):
        ref = model.generate(32, 32, seed=9, class_weights=cls)[0]
        want = np.rint(ref[:3].transpose(1, 2, 0) * 65535)
        assert np.abs(got[mat] - want).max() <= 1, mat
    assert np.abs(got["Brick_A"] - got["Stone"]).max() > 16

    outputs = outputs_by_path(out)
    assert outputs["yard/Brick_A_base_color.png"]["class"] == "moss"
    assert outputs["yard/Stone_height.png"]["class"] == "bricks"
    assert json.loads((out / "manifest" / "yard--Stone.json").read_text())["class"] == "bricks"

    # A new class for Stone: Stone is painted again, the bricks are skipped, and Stone now equals Brick_A.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "yard").glob("*.png")}
    class_recipe(tmp_path / "r.toml", cond_onnx, "moss")
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Stone: done" in err and "Brick_A: skipped (done before)" in err and "Brick_B: skipped" in err
    after = {p.name: p.stat().st_mtime_ns for p in (out / "yard").glob("*.png")}
    assert after["Stone_base_color.png"] != stamps["Stone_base_color.png"]
    assert after["Brick_A_base_color.png"] == stamps["Brick_A_base_color.png"]
    assert sha(out / "yard/Stone_base_color.png") == sha(out / "yard/Brick_A_base_color.png")
    assert outputs_by_path(out)["yard/Stone_base_color.png"]["class"] == "moss"

    # The same weights written as an index ("1" = moss) are the same texture: nothing is redone.
    class_recipe(tmp_path / "r.toml", cond_onnx, "1")
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Stone: skipped (done before)" in err and ": done" not in err
    assert after == {p.name: p.stat().st_mtime_ns for p in (out / "yard").glob("*.png")}

    bpy.ops.wm.open_mainfile(filepath=str(out / "yard_texgan.blend"))
    assert bpy.data.materials["Brick_A"]["texgan"]["class"] == "moss"
    assert bpy.data.materials["Stone"]["texgan"]["class"] == "1"


def _class_error(tmp_path, scene, body, capsys) -> str:
    """Run a bad recipe: exit 2, exactly one line on stderr, and nothing written (not even --out)."""
    capsys.readouterr()
    recipe = write_recipe(tmp_path / "cls.toml", body)
    out = tmp_path / "o"
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("texgan: error: cls.toml: "), err
    assert not out.exists()
    return err[0]


def test_class_errors_before_any_work(tmp_path, scene, tiny_onnx, cond_onnx, capsys):
    rule = '[[rule]]\nmaterials = "Brick_*"\nmodel = "{}"\nsize = 32\n'
    cond, plain = rule.format(cond_onnx), rule.format(tiny_onnx)
    err = _class_error(tmp_path, scene, cond, capsys)  # a conditional model needs a class
    assert "rule[1]: model cond.onnx is conditional" in err and "0=bricks, 1=moss" in err
    err = _class_error(tmp_path, scene, plain + 'class = "moss"\n', capsys)  # an unconditional one takes none
    assert "rule[1].class: model tiny.onnx is not conditional" in err
    err = _class_error(tmp_path, scene, cond + 'class = "rock"\n', capsys)
    assert "rule[1].class: unknown class 'rock'" in err and "0=bricks, 1=moss" in err
    err = _class_error(tmp_path, scene, cond + 'class = "7"\n', capsys)
    assert "rule[1].class: class index 7 is out of range" in err
    err = _class_error(tmp_path, scene, cond + 'class = "bricks:lots,moss:1"\n', capsys)
    assert "rule[1].class" in err and "not a number" in err
    err = _class_error(tmp_path, scene, cond + "class = 1\n", capsys)
    assert "rule[1].class must be a string" in err
    err = _class_error(tmp_path, scene, '[defaults]\nclass = "moss"\n' + plain, capsys)
    assert "rule[1].class (from [defaults]): model tiny.onnx is not conditional" in err


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    """A bake killed mid-write leaves a hidden temp file; the next run on this host removes it,
    but never a live process's file or another host's (shards may share the folder)."""
    from addon import bake
    live = Path(bake.temp_path(str(tmp_path / "baked" / "a.png")))
    live.parent.mkdir()
    dead = live.with_name(live.name.replace(f"~{os.getpid()}.", "~999999999."))
    other_host = live.with_name(".a.png.another-host~999999999.tmp.png")
    for p in (live, dead, other_host):
        p.write_bytes(b"half")
    assert bake.remove_stale_temps(str(tmp_path)) == [str(dead)]
    assert live.exists() and other_host.exists() and not dead.exists()
