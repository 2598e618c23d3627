"""Planning: which (scene, material) jobs a recipe makes of the open .blend, and their output paths.

Reads the open .blend and changes nothing, so a bad recipe fails before any work.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os

from ..targets import material_users
from .recipe import Recipe, RecipeError, Rule, derive_seed, safe_name


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
    """The jobs of the open .blend. ``matched[rule.index]`` counts pattern matches over all scenes."""
    objects = _mesh_objects()
    users = material_users(objects)  # shared with the Generate operator's planner
    jobs: dict = {}
    done_objects: set = set()
    for rule in recipe.rules:
        def hit(name):
            return any(fnmatch.fnmatchcase(name, p) for p in rule.patterns)
        if rule.kind == "materials":
            for mat in sorted(users):
                if not hit(mat):
                    continue
                matched[rule.index] += 1
                if mat not in jobs:
                    jobs[mat] = Job(f"{scene}:{mat}", scene, blend, mat, None, sorted(users[mat]), rule,
                                    _seed(rule, "material", mat))
            continue
        for o in objects:
            if not hit(o.name):
                continue
            matched[rule.index] += 1
            if o.name in done_objects:
                continue
            done_objects.add(o.name)
            mat = o.active_material
            if mat is None:
                name = f"texgan {o.name}"
                create = "new"
            elif rule.seed_policy == "per_object" and len(users.get(mat.name, [])) > 1:
                name, create = f"{mat.name} {o.name}", f"copy:{mat.name}"
            else:
                name, create = mat.name, None
            if name in jobs:
                if jobs[name].rule is rule and create is None and rule.seed_policy != "per_object":
                    jobs[name].objects = sorted(set(jobs[name].objects) | {o.name})
                continue  # an earlier rule owns this material
            seed = _seed(rule, "object", o.name) if rule.seed_policy == "per_object" else _seed(rule, "material", name)
            jobs[name] = Job(f"{scene}:{name}", scene, blend, name, create, [o.name], rule, seed)
    planned = sorted(jobs.values(), key=lambda j: j.key)
    _plan_outputs(planned, scene, out_dir, models)
    return planned


def _seed(rule: Rule, kind: str, name: str) -> int:
    return rule.seed if rule.seed_policy == "fixed" else derive_seed(rule.seed, kind, name)


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
