"""Build the example scene for examples/bake/recipe.toml: ten objects, five materials.

    python examples/bake/make_scene.py yard.blend                 # with the bpy module
    blender -b -P examples/bake/make_scene.py -- yard.blend       # with a Blender binary
"""
import sys

import bpy

out = (sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:] or ["yard.blend"])[0]
bpy.ops.wm.read_factory_settings(use_empty=True)
materials = []
for name in ("Brick_Wall", "Brick_Path", "Stone_Floor", "Stone_Trim", "Crate"):
    material = bpy.data.materials.new(name)
    if material.node_tree is None:  # Blender 4.x
        material.use_nodes = True
    materials.append(material)
for i in range(10):
    if i % 2:
        bpy.ops.mesh.primitive_cube_add(size=1.5, location=(2.5 * i, 0, 0))
    else:
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.8, location=(2.5 * i, 0, 0))
    obj = bpy.context.object
    obj.name = f"Prop_{i:02d}"
    obj.data.materials.append(materials[i % len(materials)])
bpy.ops.wm.save_as_mainfile(filepath=out)
print(f"wrote {out}: 10 objects, {len(materials)} materials")
