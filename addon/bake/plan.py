"""Planning: which (scene, material) jobs a recipe makes of the open .blend, and their output paths.

Reads the open .blend and changes nothing, so a bad recipe fails before any work.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os

from ..targets import TargetPlan, material_users
from .recipe import Recipe, RecipeError, Rule, safe_name


@dataclasses.dataclass
class Job:
    key: str                   # "<scene>:<material>" (unique, sort key for sharding)
    scene: str
    blend: str                 # source .blend (absolute)
    material: str              # the material that receives the maps (may be created: see create)
    create: str | None         # None: existing; "new": new material; "copy:<name>": copy of <name>
    objects: list
    rule: Rule
    seed: int
    maps: dict = dataclasses.field(default_factory=dict)     # map -> absolute output path
    bakes: dict = dataclasses.field(default_factory=dict)    # object -> {map: absolute path}
    smart_uv: list = dataclasses.field(default_factory=list)  # objects that get a Smart UV Project


def _mesh_objects():
    import bpy
    return sorted((o for o in bpy.data.objects if o.type == 'MESH' and o.users_scene), key=lambda o: o.name)


def _ext(rule: Rule) -> str:
    return ".png" if rule.format == "png" else ".exr"


def plan_scene(recipe: Recipe, scene: str, blend: str, out_dir: str, matched: dict, models: dict) -> list:
    """The jobs of the open .blend. ``matched[rule.index]`` counts pattern matches over all scenes.

    Targets and seeds come from the planner the Generate operator uses (addon/targets.py): the first
    rule that claims a material owns it.
    """
    objects = _mesh_objects()
    plan = TargetPlan(material_users(objects))
    done_objects: set = set()
    for rule in recipe.rules:
        def hit(name):
            return any(fnmatch.fnmatchcase(name, p) for p in rule.patterns)
        if rule.kind == "materials":
            for mat in sorted(plan.users):
                if hit(mat):
                    matched[rule.index] += 1
                    plan.add_material(mat, rule.seed_policy, rule.seed, owner=rule)
            continue
        for o in objects:
            if not hit(o.name):
                continue
            matched[rule.index] += 1
            if o.name not in done_objects:
                done_objects.add(o.name)
                plan.add_object(o, rule.seed_policy, rule.seed, f"texgan {o.name}", owner=rule)
    planned = sorted((Job(f"{scene}:{t.name}", scene, blend, t.name, _create(t), t.objects, t.owner, t.seed)
                      for t in plan.targets()), key=lambda j: j.key)
    _plan_outputs(planned, scene, out_dir, models)
    return planned


def _create(t) -> str | None:
    if t.copy_of is not None:
        return f"copy:{t.copy_of}"
    return None if t.material is not None else "new"


def _plan_outputs(jobs: list, scene: str, out_dir: str, models: dict) -> None:
    import bpy
    taken: dict = {}

    def claim(path, what):
        other = taken.setdefault(path, what)
        if other != what:
            raise RecipeError(f"{other} and {what} would both be written to {path}; rename one of them")
        return path

    scene_dir = os.path.join(out_dir, safe_name(scene))
    baked_by: dict = {}
    for job in jobs:
        rule = job.rule
        meta = models[rule.model]["meta"]
        painted = [m["name"] for m in meta["maps"]]
        available = painted + (["normal"] if "height" in painted else [])
        for m in rule.maps:
            if m not in available:
                raise RecipeError(f"{rule.label}: model {os.path.basename(rule.model)} cannot make map '{m}' "
                                  f"(it makes {', '.join(available)})")
            job.maps[m] = claim(os.path.join(scene_dir, f"{safe_name(job.material)}_{m}{_ext(rule)}"),
                                f"material '{job.material}' map {m}")
        if rule.bake is None:
            continue
        for name in job.objects:
            if name in baked_by:
                continue  # baked once, by the first job that holds the object
            obj = bpy.data.objects[name]
            if len(obj.data.uv_layers) == 0:
                if rule.bake.uv != "smart_project":
                    raise RecipeError(f"{rule.label}: object '{name}' in {scene} has no UV map to bake onto; "
                                      "unwrap it, or set bake.uv = \"smart_project\" in the recipe")
                job.smart_uv.append(name)
            empty = [s.slot_index for s in obj.material_slots if s.material is None]
            if empty and job.create is None:
                raise RecipeError(f"object '{name}' in {scene} has an empty material slot ({empty[0] + 1}); "
                                  "Cycles cannot bake it")
            baked_by[name] = job
            job.bakes[name] = {m: claim(os.path.join(scene_dir, "baked", f"{safe_name(name)}_{m}{_ext(rule)}"),
                                        f"object '{name}' baked {m}") for m in rule.bake.maps}
