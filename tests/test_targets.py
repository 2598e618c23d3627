"""One target planner and one seed rule for the Generate operator and `texgan bake` (addon/targets.py,
addon/core/seeds.py): the same scene and seed give each material the same seed both ways. Real bpy, a
real bake through the CLI and the real operator."""
from __future__ import annotations

import json

import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

from helpers import bake_scene, recipe_toml  # noqa: E402


def painted_seeds() -> dict:
    return {m.name: m["texgan"]["seed"] for m in bpy.data.materials if "texgan" in m}


def test_generate_and_bake_give_each_material_the_same_seed(tmp_path, tiny_onnx):
    import addon
    from texgan.cli import main
    # Brick_A is on Obj_00 and Obj_03: one texture, one seed, in both paths.
    scene = bake_scene(tmp_path / "yard.blend", ["Brick_A", "Brick_B", "Stone"], 5)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(recipe_toml(21, {"model": str(tiny_onnx), "size": 16, "maps": ["base_color"]},
                                  [{"objects": "Obj_*", "seed_policy": "per_material"}]))
    out = tmp_path / "out"
    assert main(["bake", str(scene), "--recipe", str(recipe), "--out", str(out), "--device", "cpu",
                 "--no-progress"]) == 0
    baked = {o["material"]: o["seed"] for o in json.loads((out / "report.json").read_text())["outputs"]}

    got = {}
    for mode in ('PER_OBJECT', 'SHARED'):
        bpy.ops.wm.open_mainfile(filepath=str(scene))
        addon.register()
        try:
            for obj in bpy.data.objects:
                obj.select_set(True)
            assert bpy.ops.texgan.generate(model=str(tiny_onnx), width=16, height=16, seed=21, device='CPU',
                                           target='ACTIVE_MATERIAL', apply_to_selected=True,
                                           seed_mode=mode) == {'FINISHED'}
            got[mode] = painted_seeds()
        finally:
            addon.unregister()
    assert got['PER_OBJECT'] == baked and len(baked) == 3 and len(set(baked.values())) == 3
    assert got['SHARED'] == {name: 21 for name in baked}  # One Seed is the recipe's "fixed" policy


def test_one_seed_new_material_never_swallows_an_existing_one_of_that_name(tiny_onnx):
    """Generate plans new materials apart from existing ones (Blender renames a clash), so an object whose
    material is already called 'texgan tiny' and two objects without one all get painted."""
    import addon
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        for i in range(3):
            bpy.ops.mesh.primitive_plane_add(location=(3 * i, 0, 0))
            bpy.context.active_object.name = f"P{i}"
        bpy.data.objects["P0"].data.materials.append(bpy.data.materials.new(f"texgan {tiny_onnx.stem}"))
        for obj in bpy.data.objects:
            obj.select_set(True)
        assert bpy.ops.texgan.generate(model=str(tiny_onnx), width=16, height=16, seed=4, device='CPU',
                                       apply_to_selected=True) == {'FINISHED'}
        mats = {o.name: o.active_material for o in bpy.data.objects}
        assert all(m is not None and m["texgan"]["seed"] == 4 for m in mats.values())
        assert mats["P0"].name == f"texgan {tiny_onnx.stem}" and mats["P1"] == mats["P2"] != mats["P0"]
        # a lone object without a material keeps the name it always had
        bpy.ops.mesh.primitive_plane_add(location=(0, 4, 0))
        bpy.context.active_object.name = "Lone"
        assert bpy.ops.texgan.generate(model=str(tiny_onnx), width=16, height=16, seed=4, device='CPU') == {'FINISHED'}
        assert bpy.data.objects["Lone"].active_material.name == f"texgan {tiny_onnx.stem} Lone"
    finally:
        addon.unregister()
