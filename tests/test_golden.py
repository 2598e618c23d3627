"""Golden outputs: the bytes `texgan generate`, `texgan bake` and the Generate operator produced before the
issue-12 restructuring, recorded in tests/data/golden.json. A refactor that changes one byte fails here.

The models are fixed files in tests/data (a copy of a starter model and two tiny fixtures), never
addon/models/* (those get retrained). Everything runs on the CPU with one ONNX Runtime thread, so the
bytes do not depend on the machine's GPU or core count. They do depend on the vector unit: ONNX Runtime's
convolutions take AVX-512 kernels where the CPU has them and AVX2 ones elsewhere, which round differently
(the project's machines have been both). So the bytes are recorded per CPU family (`cpu_family()`); on a
family with no record the test fails and says how to record one: TEXGAN_RECORD_GOLDEN=1, on a commit whose
output is known good (check the other family still passes from the same commit).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import bake_scene, plane_with_material, recipe_toml

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA.parents[1] / "bench"))
GOLDEN = DATA / "golden.json"
MODELS = {"cobbles": DATA / "golden_cobbles.onnx", "rgb": DATA / "golden_rgb.onnx",
          "cond": DATA / "golden_cond.onnx"}
RECORD = os.environ.get("TEXGAN_RECORD_GOLDEN") == "1"

# name -> (model, `texgan generate` arguments after MODEL; --out is added, as out/<name>/tex.<ext>)
GENERATE_CASES = {
    "png8": ("cobbles", ["--size", "64", "--seed", "3"]),
    "png16_no_normal": ("cobbles", ["--size", "48", "--bits", "16", "--no-normal", "--seed", "7"]),
    "exr_half": ("cobbles", ["--size", "32", "--format", "exr", "--seed", "1"], "exr"),
    "exr_float": ("cobbles", ["--size", "32", "--bits", "32", "--seed", "1"], "exr"),
    "count3": ("rgb", ["--size", "32", "--count", "3", "--seed", "11"]),
    "non_square_resampled": ("cobbles", ["--size", "50", "--height", "27", "--seed", "5"]),
    "tiled": ("cobbles", ["--size", "96", "--height", "80", "--tile", "32", "--seed", "2"]),
    "tiled_resampled": ("rgb", ["--size", "70", "--height", "45", "--tile", "24", "--seed", "4", "--bits", "16"]),
    "class_name": ("cond", ["--size", "32", "--class", "moss", "--seed", "6"]),
    "class_blend": ("cond", ["--size", "32", "--class", "bricks:0.25,moss:0.75", "--seed", "6",
                             "--normal-strength", "2.5"]),
}


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digests(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def run_generate(tmp: Path) -> dict:
    from texgan.cli import main
    result = {}
    for name, case in GENERATE_CASES.items():
        model, args = case[0], case[1]
        ext = case[2] if len(case) > 2 else "png"
        out = tmp / "generate" / name
        out.mkdir(parents=True)
        assert main(["generate", str(MODELS[model]), "--out", str(out / f"tex.{ext}"), "--device", "cpu",
                     "--threads", "1", *args]) == 0
        result[name] = digests(out)
    return result


def cpu_family() -> str:
    """The machine, as far as float rounding in ONNX Runtime's CPU kernels goes: its vector unit."""
    from common import cpu_flags   # bench/common.py: the vector flags of /proc/cpuinfo
    machine, flags = platform.machine().lower(), cpu_flags()
    if machine in ("x86_64", "amd64") and flags:
        return "x86_64-avx512" if "avx512f" in flags else "x86_64-avx2" if "avx2" in flags else "x86_64"
    return machine


def load() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


def check_or_record(section: str, got: dict) -> None:
    family = cpu_family()
    if RECORD:
        data = load()
        data.setdefault(family, {})[section] = got
        GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        return
    recorded = load()
    assert family in recorded, (f"no golden bytes for CPU family {family!r} (recorded: {sorted(recorded)}); "
                                f"record them with TEXGAN_RECORD_GOLDEN=1 on a commit whose output is known good")
    want = recorded[family].get(section)
    assert want is not None, f"no golden section {section!r} for {family} in {GOLDEN}"
    assert got == want


def test_generate_writes_the_recorded_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    check_or_record("generate", run_generate(tmp_path))


# ---------------------------------------------------------------------------------------------- Blender


def bake_recipe() -> str:
    return recipe_toml(21, {"model": str(MODELS["cobbles"]), "size": 40,
                            "maps": ["base_color", "normal", "roughness", "height"]}, [
        {"name": "bricks", "materials": "Brick_*", "bit_depth": 16},
        {"name": "stone", "materials": "Stone", "format": "exr", "maps": ["base_color", "height"]},
        {"name": "cond", "objects": "Obj_03", "model": str(MODELS["cond"]), "class": "bricks:0.5,moss:0.5",
         "seed_policy": "per_object", "size": [36, 20], "maps": ["base_color", "normal"]}])


@pytest.mark.blender
def test_bake_writes_the_recorded_texture_bytes(tmp_path):
    bpy = pytest.importorskip("bpy")
    from texgan.cli import main
    scene = bake_scene(tmp_path / "yard.blend", ["Brick_A", "Brick_B", "Stone"], 5)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(bake_recipe())
    out = tmp_path / "out"
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(out), "--device", "cpu",
                 "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    got = {"maps": digests(out / "yard"),
           "seeds": sorted((o["material"], o["map"], o["seed"]) for o in report["outputs"])}
    got["seeds"] = [list(s) for s in got["seeds"]]
    check_or_record("bake", got)


def pixels_sha(image) -> str:
    px = np.empty(image.size[0] * image.size[1] * image.channels, dtype=np.float32)
    image.pixels.foreach_get(px)
    return hashlib.sha256(px.tobytes()).hexdigest()


@pytest.mark.blender
def test_generate_operator_paints_the_recorded_pixels():
    bpy = pytest.importorskip("bpy")
    import addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        got = {}
        for label, model, kw in (("cobbles", "cobbles", {}), ("cond", "cond", {"class_name": "moss"}),
                                 ("cond_default_class", "cond", {})):
            bpy.ops.wm.read_factory_settings(use_empty=True)
            _, mat = plane_with_material()
            result = bpy.ops.texgan.generate(model=str(MODELS[model]), width=40, height=24, seed=9,
                                             target='ACTIVE_MATERIAL', device='CPU', **kw)
            assert result == {'FINISHED'}
            images = {n.image.get("texgan_role", n.image.name): pixels_sha(n.image)
                      for n in mat.node_tree.nodes if n.type == 'TEX_IMAGE' and n.image is not None}
            record = {k: v for k, v in mat["texgan"].to_dict().items() if k != "model"}
            got[label] = {"images": images, "record": record}
        check_or_record("operator", got)
    finally:
        addon.unregister()
