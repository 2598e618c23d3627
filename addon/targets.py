"""Which materials a Generate or a bake paints, and with which seeds (reads Blender data, changes nothing).

One planner for both: :class:`TargetPlan` turns objects (or material names) into targets, one per
material that receives maps, each with its seed from the one seed rule (``core.seeds.seed_for``).
The Generate operator plans with :func:`plan_targets`; the bake planner (addon/bake/plan.py) feeds
its recipe rules to the same :class:`TargetPlan`.
"""
from __future__ import annotations

import dataclasses

from .core.seeds import seed_for

# bpy and nodes are imported where Generate plans, not here: the bake planner imports this module, and
# every `texgan` command imports the bake package for its flags, so a top-level bpy would load the
# whole Blender module into `texgan generate` and `texgan --help`.


class PlanError(ValueError):
    pass


@dataclasses.dataclass
class Target:
    material: str | None  # existing material that receives the maps; None: create one named `new_name`
    new_name: str
    objects: list  # object names that get the material (for new materials and copies)
    seed: int
    copy_of: str | None = None  # bake's per_object policy: the new material is a copy of this one
    owner: object = None  # who planned it (a bake rule); a later owner never takes it over

    @property
    def name(self) -> str:
        return self.material if self.material is not None else self.new_name


class TargetPlan:
    """Targets keyed by the material that receives the maps: the first claim of a material wins.

    ``one_name_per_target``: a new material may not take the name of a planned existing one (a bake names
    its output files after the material). Without it (Generate), new materials are planned apart, since
    Blender gives a new material a free name of its own.
    """

    def __init__(self, users: dict, one_name_per_target: bool = True):
        self.users = users  # material name -> names of the objects that use it (material_users)
        self.one_name = one_name_per_target
        self.by_name: dict = {}

    def targets(self) -> list:
        return list(self.by_name.values())

    def add_material(self, name: str, policy: str, seed: int, owner=None) -> None:
        """The existing material ``name`` (shared by all its users) gets one texture."""
        if name not in self.by_name:
            self.by_name[name] = Target(name, "", sorted(self.users.get(name, [])), seed_for(policy, seed, name),
                                        owner=owner)

    def add_object(self, obj, policy: str, seed: int, new_name: str, owner=None, fresh: bool = False) -> None:
        """``obj``'s texture goes to its active material; to a new one named ``new_name`` when it has none
        (or ``fresh``); with the per_object policy, to a copy when other objects share its material.
        Objects claiming the same new name (or material) under one owner share it, except per_object."""
        mat = None if fresh else obj.active_material
        if mat is None:
            t = Target(None, new_name, [obj.name], 0, owner=owner)
        elif policy == "per_object" and len(self.users.get(mat.name, [])) > 1:
            t = Target(None, f"{mat.name} {obj.name}", [obj.name], 0, copy_of=mat.name, owner=owner)
        else:
            t = Target(mat.name, "", [obj.name], 0, owner=owner)
        key = t.name if self.one_name or t.material is not None else ("new", t.name)
        old = self.by_name.get(key)
        if old is None:
            t.seed = seed_for(policy, seed, t.name, obj.name)
            self.by_name[key] = t
        elif old.owner is owner and policy != "per_object" and t.copy_of is None and (
                t.material is not None or old.material is None and old.copy_of is None):
            old.objects = sorted(set(old.objects) | {obj.name})


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
    """The materials `op` (the Generate settings) paints and their seeds; PlanError before any change.

    Seeds: One Seed is the fixed policy (every material gets ``op.seed``), Seed per Object the
    per_material one (each material's seed is derived from ``op.seed`` and its name), as in bakes.
    """
    import bpy

    from . import nodes
    for side in (op.width, op.height):
        if side > max_size:
            raise PlanError(f"{op.width}x{op.height} is larger than the maximum texture size "
                            f"{max_size} (extension preferences)")
    shared = op.seed_mode == 'SHARED'
    policy = "fixed" if shared else "per_material"
    if op.material:
        material = bpy.data.materials.get(op.material)
        if material is None:
            raise PlanError(f"no material named '{op.material}'")
        return _one_material(material, policy, op.seed)
    objs = target_objects(context, op.apply_to_selected)
    fresh = op.target == 'NEW_MATERIAL'
    for obj in objs:
        if (reason := _editable_object(obj)) and (fresh or obj.active_material is None):
            raise PlanError(reason)
    if not objs:
        if fresh:
            return [Target(None, f"texgan {model_name}", [], seed_for(policy, op.seed, f"texgan {model_name}"))]
        material = getattr(context, "material", None)
        if material is None:
            raise PlanError("no active object with a material: select a mesh, or use target NEW_MATERIAL")
        return _one_material(material, policy, op.seed)
    if not fresh:
        seen = set()
        for material in (o.active_material for o in objs if o.active_material is not None):
            if material.name not in seen:
                seen.add(material.name)
                nodes.check_material(material)
    plan = TargetPlan(material_users(objs), one_name_per_target=False)
    for obj in objs:  # one shared new material for One Seed; one per object otherwise
        plan.add_object(obj, policy, op.seed, f"texgan {model_name}" if shared else f"texgan {model_name} {obj.name}",
                        fresh=fresh)
    targets = plan.targets()
    for t in targets:  # Active Material: a lone object's new material carries its name, shared or not
        if not fresh and t.material is None and len(t.objects) == 1:
            t.new_name = f"texgan {model_name} {t.objects[0]}"
    return targets


def _one_material(material, policy: str, seed: int) -> list:
    from . import nodes
    nodes.check_material(material)
    return [Target(material.name, "", [], seed_for(policy, seed, material.name))]
