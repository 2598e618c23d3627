"""Make docs/images/trained_cobbles.png: train a model from one photo through bpy.ops.texgan.train
(headless, as in docs/blender.md), Generate it onto a sphere and a plane, render with Cycles.

    PATH=.venv/bin:$PATH .venv/bin/python docs/images/make_trained_render.py OUT.png [MINUTES]

The "photo" is the cobbles exemplar's base colour alone: height and roughness are derived from it
(--derive-maps), not taken from the exemplar's own maps.
"""
import os
import sys
import tempfile

import bpy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
import addon  # noqa: E402

out = os.path.abspath(sys.argv[1])
minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0
work = tempfile.mkdtemp(prefix="texgan-render-")
bpy.ops.wm.read_factory_settings(use_empty=True)
addon.register()
photo = os.path.join(ROOT, "gan_core", "exemplars", "cobbles", "basecolor.png")
print(bpy.ops.texgan.train(image=photo, name="Cobbles photo", minutes=minutes, derive_maps=True,
                           quality='STANDARD', run_folder=os.path.join(work, "runs"),
                           library_folder=os.path.join(work, "lib")))

bpy.ops.mesh.primitive_plane_add(size=6)
plane = bpy.context.active_object
bpy.ops.mesh.primitive_uv_sphere_add(radius=1, location=(0, 0, 1), segments=64, ring_count=32)
sphere = bpy.context.active_object
bpy.ops.object.shade_smooth()
for obj in (plane, sphere):
    obj.select_set(True)
bpy.ops.texgan.generate(model="Cobbles photo", width=1024, height=1024, seed=3, texture_scale=2.0,
                        apply_to_selected=True, target='NEW_MATERIAL', device='CPU')
bpy.ops.object.light_add(type='SUN', rotation=(0.9, 0.2, 0.8))
bpy.context.active_object.data.energy = 4.0
bpy.ops.object.camera_add(location=(5.2, -5.2, 3.6), rotation=(1.18, 0, 0.785))
scene = bpy.context.scene
scene.camera = bpy.context.active_object
scene.world = bpy.data.worlds.new("World")
scene.world.color = (0.05, 0.05, 0.06)
scene.render.engine = 'CYCLES'
scene.cycles.device = 'CPU'
scene.cycles.samples = 24
scene.render.resolution_x, scene.render.resolution_y = 512, 384
scene.render.filepath = out
bpy.ops.render.render(write_still=True)
addon.unregister()
print("wrote", out)
