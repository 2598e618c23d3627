"""Which materials a Generate paints, and with which seeds (reads Blender data, changes nothing).

Also the pieces the bake planner (addon/bake/plan.py) shares: which objects use a material.
"""
from __future__ import annotations

import dataclasses

import bpy

from . import nodes


class PlanError(ValueError):
    pass


@dataclasses.dataclass
class Target:
    material: str | None  # existing material name; None: create one named `new_name`
    new_name: str
    objects: list  # object names that get the material (for new materials)
    seed: int


def _can_hold_material(obj) -> bool:
    return obj is not None and obj.data is not None and hasattr(obj.data, "materials")


def _editable_object(obj) -> str | None:
    if obj.library is not None or (obj.data is not None and getattr(obj.data, "library", None) is not None):
        return f"object '{obj.name}' is linked from a library; its materials cannot be changed"
    return None


def material_users(objects) -> dict:
    """material name -> names of the objects (in the given order) whose slots hold it."""
    users: dict = {}
    for o in objects:
        for slot in o.material_slots:
            if slot.material is not None and o.name not in users.setdefault(slot.material.name, []):
                users[slot.material.name].append(o.name)
    return users


def target_objects(context, apply_to_selected: bool) -> list:
    """The objects Generate paints: the active one, or every selected one (active first)."""
    if apply_to_selected:
        objs = [o for o in context.selected_objects if _can_hold_material(o)]
        active = context.object
        objs.sort(key=lambda o: (o != active, o.name))
        return objs
    obj = context.object
    return [obj] if _can_hold_material(obj) else []

def plan_targets(context, op, model_name: str, max_size: int) -> list:
    """The materials `op` (the Generate settings) paints and their seeds; PlanError before any change."""
    for side in (op.width, op.height):
        if side > max_size:
            raise PlanError(f"{op.width}x{op.height} is larger than the maximum texture size "
                            f"{max_size} (extension preferences)")
    shared = op.seed_mode == 'SHARED'
    targets: list[Target] = []
    if op.material:
        material = bpy.data.materials.get(op.material)
        if material is None:
            raise PlanError(f"no material named '{op.material}'")
        nodes.check_material(material)
        return [Target(material.name, "", [], op.seed)]
    objs = target_objects(context, op.apply_to_selected)
    for obj in objs:
        if (reason := _editable_object(obj)) and (op.target == 'NEW_MATERIAL' or obj.active_material is None):
            raise PlanError(reason)
    if op.target == 'NEW_MATERIAL':
        if not objs or shared:
            targets.append(Target(None, f"texgan {model_name}", [o.name for o in objs], op.seed))
        else:
            for i, obj in enumerate(objs):
                targets.append(Target(None, f"texgan {model_name} {obj.name}", [obj.name], op.seed + i))
        return targets
    # ACTIVE_MATERIAL
    if not objs:
        material = getattr(context, "material", None)
        if material is None:
            raise PlanError("no active object with a material: select a mesh, or use target NEW_MATERIAL")
        nodes.check_material(material)
        return [Target(material.name, "", [], op.seed)]
    by_material: dict = {}
    for obj in objs:
        material = obj.active_material
        if material is None:
            targets.append(Target(None, f"texgan {model_name} {obj.name}", [obj.name], 0))
            continue
        if material.name in by_material:
            continue
        nodes.check_material(material)
        by_material[material.name] = True
        targets.append(Target(material.name, "", [], 0))
    for i, t in enumerate(targets):
        t.seed = op.seed if shared else op.seed + i
    if shared and sum(1 for t in targets if t.material is None) > 1:  # one shared new material
        new = [t for t in targets if t.material is None]
        new[0].objects = [name for t in new for name in t.objects]
        new[0].new_name = f"texgan {model_name}"
        targets = [t for t in targets if t.material is not None] + [new[0]]
    return targets
