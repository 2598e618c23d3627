"""A .blend with a textured object, without the UI: for `texgan demo` and scripts (bpy, no operators)."""
from __future__ import annotations

import bpy

from . import blender_images, nodes, worker
from .core.format import material_record


def write_textured_blend(out_path, model_path=None, maps=None, width=1024, height=1024, seed=0,
                         texture_scale=2.0, name="texgan demo", device="auto") -> dict:
    """Write a .blend showing a generated material on a sphere resting on a plane (packed images).

    Give either ``model_path`` (a texgan .onnx; painted with seed ``seed`` at ``width`` x ``height``)
    or ``maps`` (role -> HxW[xC] float array in [0, 1], e.g. ``addon.maps.split_maps(texture, channels)``).
    Resets the current bpy session to an empty factory scene first. Returns a summary dict.
    Raises ValueError with a one-line message on a bad model.
    """
    import math
    from pathlib import Path

    import mathutils

    info = {"seed": seed}
    if maps is None:
        if model_path is None:
            raise ValueError("write_textured_blend needs model_path or maps")
        job = worker.Job(str(model_path), [worker.Task(seed, height, width)], device=device).run()
        if job.error:
            raise ValueError(job.error)
        maps = job.results[seed]
        info.update(model=Path(str(model_path)).stem, device=job.device, seconds=round(job.seconds, 3))
    out_path = Path(out_path).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_plane_add(size=6.0, location=(0, 0, 0))
    floor = bpy.context.active_object
    floor.name = "texgan floor"
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, location=(0, 0, 1.0), segments=64, ring_count=32)
    ball = bpy.context.active_object
    ball.name = "texgan sphere"
    bpy.ops.object.shade_smooth()
    material = nodes.new_material(name)
    for obj in (floor, ball):
        nodes.assign_material(obj, material)
    nodes.apply_maps(material, maps, scale=texture_scale, info={"model": info.get("model", ""), "seed": seed})
    material["texgan"] = material_record(model_path or "", seed, width, height, texture_scale)

    cam_data = bpy.data.cameras.new("texgan camera")
    cam = bpy.data.objects.new("texgan camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (5.5, -5.5, 4.0)
    direction = mathutils.Vector((0, 0, 0.8)) - cam.location
    cam.rotation_euler = direction.to_track_quat('-Z', 'Y').to_euler()
    scene.camera = cam
    sun_data = bpy.data.lights.new("texgan sun", type='SUN')
    sun_data.energy = 3.0
    sun = bpy.data.objects.new("texgan sun", sun_data)
    sun.rotation_euler = (math.radians(50), 0, math.radians(30))
    scene.collection.objects.link(sun)
    blender_images.pack_pending_images()  # packed even where the add-on's save handler is not registered
    bpy.ops.wm.save_as_mainfile(filepath=str(out_path), compress=True)
    info.update(blend=str(out_path), material=material.name, objects=[floor.name, ball.name],
                maps=sorted(maps), size=[int(next(iter(maps.values())).shape[1]), int(next(iter(maps.values())).shape[0])])
    return info
