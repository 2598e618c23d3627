"""The panel's settings (scene.texgan) reach the Generate operator whole: the button's path paints what an
explicit call with the same settings paints. Real bpy, the extension registered by hand."""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender


def paint(**kw):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    for i in range(2):
        bpy.ops.mesh.primitive_plane_add(location=(3 * i, 0, 0))
        bpy.context.active_object.data.materials.append(bpy.data.materials.new(f"M{i}"))
    for o in bpy.data.objects:
        o.select_set(True)
    scene_settings = kw.pop("scene", None)
    if scene_settings:
        props = bpy.context.scene.texgan
        for k, v in scene_settings.items():
            setattr(props, k, v)
    assert bpy.ops.texgan.generate(device='CPU', **kw) == {'FINISHED'}
    out = {}
    for m in bpy.data.materials:
        if "texgan" in m:
            px = {n.image.get("texgan_role"): np.array(n.image.pixels[:]) for n in m.node_tree.nodes
                  if n.type == 'TEX_IMAGE' and n.image is not None}
            out[m.name] = (m["texgan"].to_dict(), px)
    return out


def test_the_panel_button_paints_what_an_explicit_call_paints():
    import addon
    from addon.core.seeds import derive_seed
    from addon import panels, settings
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        model = next(i[0] for i in panels.model_items(bpy.context.scene.texgan, bpy.context)
                     if i[0].endswith("cobbles.onnx"))
        chosen = dict(model=model, width=40, height=24, seed=7, texture_scale=2.5, apply_to_selected=True,
                      seed_mode='PER_OBJECT', coordinates='BOX')
        assert set(chosen) <= set(settings.NAMES)
        via_panel = paint(scene=chosen, use_scene_settings=True)
        explicit = paint(**chosen)
        assert len(via_panel) == 2 and via_panel.keys() == explicit.keys()
        for name, (record, px) in via_panel.items():
            assert record == explicit[name][0] and record["scale"] == 2.5 and record["width"] == 40
            assert px.keys() == explicit[name][1].keys()
            assert all(np.array_equal(px[k], explicit[name][1][k]) for k in px)
        # Seed per object reached the operator: each material's seed derives from 7 and its name (bake's rule)
        assert {name: r["seed"] for name, (r, _) in via_panel.items()} == {
            name: derive_seed(7, "material", name) for name in ("M0", "M1")}
    finally:
        addon.unregister()
