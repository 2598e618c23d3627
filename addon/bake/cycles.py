"""Cycles bakes: base colour, normal and roughness of each object onto its UVs, from the wired materials."""
from __future__ import annotations

from ..core.files import file_sha256
from .images import save_map
from .recipe import BAKE_FORMAT, BAKE_PASSES, BakeError


def bake_params(baker, job, obj_name: str, source_sha: str, deps: list) -> dict:
    b = job.rule.bake
    return {"format": BAKE_FORMAT, "object": obj_name, "source_sha256": source_sha, "materials": deps,
            "maps": {m: baker.rel(p) for m, p in job.bakes[obj_name].items()}, "margin": b.margin,
            "samples": b.samples, "size": list(b.size or job.rule.size), "uv": b.uv,
            "image_format": job.rule.format, "bit_depth": job.rule.bit_depth}

def bake_object(baker, job, obj_name: str) -> list:
    import bpy
    import numpy as np
    from ..blender_images import TAG, read_pixels
    from ..core.maps import linear_to_srgb
    spec, rule = job.rule.bake, job.rule
    obj = bpy.data.objects[obj_name]
    if len(obj.data.uv_layers) == 0:
        if spec.uv != "smart_project":
            raise BakeError(f"object '{obj_name}' has no UV map to bake onto")
        smart_uv_project(obj)
    scene = obj.users_scene[0]
    view_layer = scene.view_layers[0]
    w, h = spec.size or rule.size
    saved = {"engine": scene.render.engine, "samples": scene.cycles.samples, "device": scene.cycles.device,
             "active": view_layer.objects.active,
             "selected": [o.name for o in view_layer.objects if o.select_get(view_layer=view_layer)]}
    materials = [s.material for s in obj.material_slots if s.material is not None and s.material.node_tree]
    outputs = []
    try:
        scene.render.engine = 'CYCLES'
        scene.cycles.samples = spec.samples
        scene.cycles.device = 'CPU'
        for o in view_layer.objects:
            o.select_set(False, view_layer=view_layer)
        obj.hide_set(False, view_layer=view_layer)
        obj.select_set(True, view_layer=view_layer)
        view_layer.objects.active = obj
        for m, path in job.bakes[obj_name].items():
            bake_type, extra = BAKE_PASSES[m]
            target = bpy.data.images.new(f"texgan bake {obj_name} {m}", w, h, alpha=False, float_buffer=True)
            target.colorspace_settings.name = "Non-Color"
            added = []
            try:
                for mat in materials:
                    tree = mat.node_tree
                    node = tree.nodes.new("ShaderNodeTexImage")
                    node[TAG] = "bake_target"
                    node.image = target
                    added.append((tree, node, tree.nodes.active))
                    tree.nodes.active = node
                with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=obj, object=obj,
                                               selected_objects=[obj], selected_editable_objects=[obj]):
                    result = bpy.ops.object.bake(type=bake_type, margin=spec.margin, margin_type='EXTEND',
                                                 use_clear=True, target='IMAGE_TEXTURES',
                                                 use_selected_to_active=False, **extra)
                if 'FINISHED' not in result:
                    raise BakeError(f"Cycles could not bake {m} of object '{obj_name}'")
                px = read_pixels(target)[..., :3]
                if m == "base_color":  # Cycles bakes linear albedo; save_map takes sRGB-encoded colour
                    save_map(linear_to_srgb(np.clip(px, 0.0, 1.0)), path, rule.format, rule.bit_depth, color=True)
                elif m == "roughness":
                    save_map(px[..., 0], path, rule.format, rule.bit_depth, color=False)
                else:
                    save_map(px, path, rule.format, rule.bit_depth, color=False)
                outputs.append({"map": m, "path": baker.rel(path), "sha256": file_sha256(path)})
            finally:
                for tree, node, active in added:
                    tree.nodes.remove(node)
                    if active is not None:
                        tree.nodes.active = active
                bpy.data.images.remove(target)
    finally:
        scene.render.engine = saved["engine"]
        scene.cycles.samples = saved["samples"]
        scene.cycles.device = saved["device"]
        for o in view_layer.objects:
            o.select_set(o.name in saved["selected"], view_layer=view_layer)
        view_layer.objects.active = saved["active"]
    return outputs


def smart_uv_project(obj) -> None:
    """Give ``obj`` a UV map with Blender's Smart UV Project (the mesh data is changed)."""
    import bpy
    scene = obj.users_scene[0]
    view_layer = scene.view_layers[0]
    with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=obj, object=obj,
                                   selected_objects=[obj], selected_editable_objects=[obj],
                                   objects_in_mode=[obj]):
        bpy.ops.object.mode_set(mode='EDIT')
        bpy.ops.mesh.select_all(action='SELECT')
        bpy.ops.uv.smart_project(island_margin=0.02)
        bpy.ops.object.mode_set(mode='OBJECT')
    if len(obj.data.uv_layers) == 0:
        raise BakeError(f"Smart UV Project gave object '{obj.name}' no UV map")
