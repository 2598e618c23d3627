"""The generation settings, declared once: the panel's PropertyGroup (``scene.texgan``) and the Generate
operator both take their properties from :func:`properties`, and the panel's button hands the operator
the scene's settings by name (:data:`NAMES`), so the two cannot drift apart.

Names are texgan's one name per setting (CLI flag / recipe key / Blender property): width, height,
seed, texture_scale, coordinates, ... ; the class of a conditional model is ``class`` in the CLI and
recipes and ``class_name`` here, because ``class`` is a Python keyword.
"""
from __future__ import annotations

from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty

from .core.format import DEFAULT_SIZE, DEFAULT_TEXTURE_SCALE, DEFAULT_UI_MAX_SIZE, MAX_SIDE

TARGET_ITEMS = [
    ('ACTIVE_MATERIAL', "Active Material", "Update the active material (a new one if the object has none)"),
    ('NEW_MATERIAL', "New Material", "Create a new material and put it in the object's active slot")]
SEED_ITEMS = [('SHARED', "One Seed", "Every object gets the same texture"),
              ('PER_OBJECT', "Seed per Object",
               "Each material gets its own seed, derived from the seed and its name (as texgan bake's per_material)")]
STORAGE_ITEMS = [('PACK', "Pack into .blend", "Pack the images into the .blend file"),
                 ('SAVE', "Save beside .blend", "Write PNG/EXR files into 'textures' beside the saved .blend")]
COORD_ITEMS = [('UV', "UV", "Use the mesh's UV map"),
               ('BOX', "Box", "Box projection from object coordinates (meshes without good UVs)")]
SOFT_MAX_SIZE = DEFAULT_UI_MAX_SIZE


def properties() -> dict:
    """Fresh property declarations of the shared settings (each class needs its own)."""
    return {
        "width": IntProperty(name="Width", default=DEFAULT_SIZE, min=1, soft_min=16, soft_max=SOFT_MAX_SIZE,
                             max=MAX_SIDE, subtype='PIXEL'),
        "height": IntProperty(name="Height", default=DEFAULT_SIZE, min=1, soft_min=16, soft_max=SOFT_MAX_SIZE,
                              max=MAX_SIDE, subtype='PIXEL'),
        "seed": IntProperty(name="Seed", default=0, min=0,
                            description="Random seed: the same seed paints the same texture"),
        "texture_scale": FloatProperty(name="Texture Scale", default=DEFAULT_TEXTURE_SCALE, min=0.001, soft_max=100.0,
                                       description="Repeats of the texture per UV unit (Mapping node scale)"),
        "target": EnumProperty(name="Target", default='ACTIVE_MATERIAL', items=TARGET_ITEMS),
        "apply_to_selected": BoolProperty(name="Apply to Selected Objects", default=False,
                                          description="Texture every selected object, not only the active one"),
        "seed_mode": EnumProperty(name="Seeds", default='SHARED', items=SEED_ITEMS),
        "storage": EnumProperty(name="Images", default='PACK', items=STORAGE_ITEMS),
        "coordinates": EnumProperty(name="Coordinates", default='UV', items=COORD_ITEMS),
    }


NAMES = tuple(properties()) + ("model",)  # what the panel's button hands the operator (and class_name, if any)


def with_settings(cls):
    """Class decorator: add the shared settings to a PropertyGroup's or an Operator's properties."""
    cls.__annotations__ = {**properties(), **cls.__dict__.get("__annotations__", {})}
    return cls
