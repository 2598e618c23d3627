"""Running a bake: models, class checks, synthesis (core.paint), material wiring, and the job loop."""
from __future__ import annotations

import os
import sys
import time

from ..core.format import material_record
from ..core.files import atomic_path, file_sha256, remove_stale_temps, write_json
from . import cycles, manifest
from .images import _drop_io_scene, _file_image, save_map
from .plan import Job, plan_scene
from .recipe import BAKE_FORMAT, BakeError, Recipe, RecipeError, _where, load_recipe, parse_shard, shard_jobs


class Progress:
    """A text progress bar on stderr (one line per step when stderr is not a terminal)."""

    def __init__(self, total: int, label: str, enabled: bool = True, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.n, self.t0 = 0, time.time()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        if enabled and total:
            self._draw("")

    def _draw(self, note):
        width = 24
        fill = int(width * self.n / self.total) if self.total else width
        line = (f"{self.label} [{'#' * fill}{'.' * (width - fill)}] {self.n}/{self.total} "
                f"{time.time() - self.t0:5.1f}s {note}")
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def step(self, note: str = "") -> None:
        self.n += 1
        if self.enabled:
            self._draw(note)

    def close(self) -> None:
        if self.enabled and self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()


class Baker:
    def __init__(self, recipe: Recipe, out_dir: str, device: str | None, log):
        self.recipe, self.out_dir, self.log = recipe, out_dir, log
        self.device = device or recipe.device
        self.models: dict = {}      # path -> {"meta", "sha256", "session"}
        self.class_rows: dict = {}  # rule index -> class weight row (conditional models) or None
        self.errors: list = []

    def model_info(self, path: str) -> dict:
        info = self.models.get(path)
        if info is None:
            from ..core.format import ModelError
            from ..core.model import read_metadata
            try:
                meta = read_metadata(path)
            except ModelError as e:
                raise RecipeError(str(e)) from None
            info = self.models[path] = {"meta": meta, "sha256": file_sha256(path), "session": None}
        return info

    def check_classes(self) -> None:
        """Match every rule's 'class' to its model (RecipeError, one line, before any work).

        A conditional model needs a class and an unconditional one takes none (core.classes);
        the class is resolved here to the weight row the model will be fed.
        """
        from ..core.classes import resolve_class
        path = self.recipe.path
        for rule in self.recipe.rules:
            classes = list(self.model_info(rule.model)["meta"].get("classes") or [])
            model = f"model {os.path.basename(rule.model)}"
            key = f"rule[{rule.index + 1}]"
            where = _where(path, f"{key}.class") + (" (from [defaults])" if rule.class_from_defaults else "")
            try:
                self.class_rows[rule.index], _ = resolve_class(
                    classes, rule.texture_class, model, setting="'class' (in the rule or in [defaults])")
            except ValueError as e:
                if not classes:
                    hint = ("set 'class' only in the rules that use conditional models" if rule.class_from_defaults
                            else "remove 'class' from this rule")
                    raise RecipeError(f"{where}: {model} is not conditional (it has no classes); {hint}") from None
                if rule.texture_class is None:
                    raise RecipeError(f"{_where(path, key)}: {e}") from None
                raise RecipeError(f"{where}: {e} ({model})") from None

    def session(self, path: str):
        info = self.model_info(path)
        if info["session"] is None:
            from ..core.model import TextureModel
            info["session"] = TextureModel(path, device=self.device)
        return info["session"]

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.out_dir).replace(os.sep, "/")

    # ------------------------------------------------------------------ synthesis

    def synth_params(self, job: Job) -> dict:
        r = job.rule
        params = {"format": BAKE_FORMAT, "model_sha256": self.models[r.model]["sha256"], "seed": job.seed,
                  "size": list(r.size), "maps": {m: self.rel(p) for m, p in job.maps.items()}, "image_format": r.format,
                  "bit_depth": r.bit_depth, "normal_strength": r.normal_strength}
        row = self.class_rows.get(r.index)
        if row is not None:
            # The weights the model is fed, not the spelling: "moss" and "1" paint the same texture. Only
            # conditional models get the key, so manifests of unconditional bakes stay valid.
            params["class_weights"] = [float(x) for x in row]
        return params

    def synthesise(self, job: Job) -> list:
        from ..core.paint import PaintSettings, paint
        r = job.rule
        model = self.session(r.model)
        w, h = r.size
        settings = PaintSettings(w, h, seed=job.seed, class_choice=self.class_rows.get(r.index),
                                 normal="normal" in job.maps, normal_strength=r.normal_strength)
        maps = paint(model, settings).maps(0)
        outputs = []
        for m, path in job.maps.items():
            arr = maps[m]
            save_map(arr, path, r.format, r.bit_depth, color=(arr.ndim == 3 and m != "normal"))
            outputs.append({"map": m, "path": self.rel(path), "sha256": file_sha256(path)})
        return outputs


def _open(path: str) -> None:
    import bpy
    bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)


def _prepare_materials(baker: Baker, jobs: list) -> dict:
    """Create/copy the target materials and wire every job's maps (file images) with the add-on's code."""
    import bpy
    from .. import nodes
    wired = {}
    for job in jobs:
        if job.create == "new":
            material = nodes.new_material(job.material)
            material.name = job.material
            for name in job.objects:
                nodes.assign_material(bpy.data.objects[name], material)
        elif job.create and job.create.startswith("copy:"):
            material = bpy.data.materials[job.create[5:]].copy()
            material.name = job.material
            obj = bpy.data.objects[job.objects[0]]
            slot = obj.material_slots[obj.active_material_index]
            slot.link = 'OBJECT'
            slot.material = material
        else:
            material = bpy.data.materials[job.material]
        nodes.check_material(material)
        rule = job.rule
        info = baker.models[rule.model]
        for role in list(nodes.our_nodes(material)):
            if role.startswith("image:"):
                old = nodes.reusable_image(material, role[6:])
                if old is not None:
                    bpy.data.images.remove(old)
        images = {m: _file_image(f"{job.material} texgan {m}", m, path, rule.format,
                                 {"model": info["meta"].get("name", ""), "seed": job.seed})
                  for m, path in job.maps.items()}
        nodes.wire(material, images, scale=rule.texture_scale, bump_strength=rule.bump_strength,
                   coordinates=rule.coordinates)
        material["texgan"] = material_record(
            rule.model, job.seed, rule.size[0], rule.size[1], rule.texture_scale, info["meta"].get("name", ""),
            rule.texture_class, model_sha256=info["sha256"], recipe=baker.recipe.path, rule=rule.name)
        wired[job.key] = images
    return wired


def _save_blend(out_path: str, pack: bool) -> None:
    import bpy
    from ..blender_images import pack_pending_images
    _drop_io_scene()
    pack_pending_images()  # texgan images left for save time are always packed, pack_images or not
    if pack:
        for image in bpy.data.images:
            if image.get("texgan_role") and image.source == 'FILE' and image.packed_file is None:
                image.pack()
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with atomic_path(out_path) as tmp:
        try:
            bpy.ops.wm.save_as_mainfile(filepath=tmp, copy=True, relative_remap=True, compress=False)
        finally:
            if os.path.exists(tmp + "1"):  # Blender's backup of an existing file
                os.remove(tmp + "1")


def run_bake(blend_paths, recipe_path, out_dir, shard="1/1", device: str | None = None, progress: bool = True,
             overwrite_source: bool = False, log=None) -> dict:
    """Bake every job of this shard; returns the report (also written to ``out_dir/report.json``).

    Runs inside Blender's Python (the bpy module or a Blender binary). Raises RecipeError /
    BakeError (one line) for bad input before any work starts; failed jobs are listed in the
    report and raise BakeError at the end, after every other job has run.
    """
    import bpy
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t_start = time.time()
    recipe = load_recipe(recipe_path)
    shard_t = parse_shard(shard)
    out_dir = os.path.abspath(os.fspath(out_dir))
    blends = [os.path.abspath(os.fspath(p)) for p in blend_paths]
    if not blends:
        raise BakeError("no .blend files to bake")
    scenes: dict = {}
    for b in blends:
        if not os.path.isfile(b):
            raise BakeError(f".blend file not found: {b}")
        stem = os.path.splitext(os.path.basename(b))[0]
        if stem in scenes:
            raise BakeError(f"two .blend files are both called '{stem}' ({scenes[stem]} and {b}); their outputs "
                            "would collide: rename one")
        scenes[stem] = b
    overwrite = overwrite_source or recipe.overwrite_source
    out_blends = {}
    for stem, b in scenes.items():
        target = b if overwrite else os.path.join(out_dir, recipe.blend.replace("{scene}", stem))
        if not overwrite and os.path.abspath(target) == b:
            raise BakeError(f"the output .blend would overwrite the source {b}; set [output] overwrite_source = "
                            "true (or --overwrite-source) if that is what you want")
        out_blends[stem] = target
    baker = Baker(recipe, out_dir, device, log)
    for rule in recipe.rules:
        baker.model_info(rule.model)
    baker.check_classes()

    # Plan everything first: bad recipes fail before any work.
    matched = {r.index: 0 for r in recipe.rules}
    plans: dict = {}
    source_sha: dict = {}
    for stem, b in scenes.items():
        _open(b)
        plans[stem] = plan_scene(recipe, stem, b, out_dir, matched, baker.models)
        source_sha[stem] = file_sha256(b)
    for rule in recipe.rules:
        if matched[rule.index] == 0:
            raise RecipeError(f"{rule.label}: no {rule.kind[:-1]} matches {', '.join(rule.patterns)} in "
                              f"{', '.join(scenes)}")
    all_jobs = [j for stem in scenes for j in plans[stem]]
    os.makedirs(out_dir, exist_ok=True)  # only now: a bad recipe leaves nothing behind
    for path in remove_stale_temps(out_dir):
        log(f"texgan bake: removed {os.path.relpath(path, out_dir)}, left by a bake that was stopped mid-write")
    mine = {j.key for j in shard_jobs(all_jobs, shard_t)}
    log(f"texgan bake: {len(all_jobs)} jobs in {len(scenes)} scenes; shard {shard_t[0]}/{shard_t[1]} "
        f"runs {len(mine)}")

    for stem, b in scenes.items():
        jobs = plans[stem]
        owned = [j for j in jobs if j.key in mine]
        if not owned and shard_t[1] > 1:
            continue
        _open(b)
        images = _prepare_materials(baker, jobs)
        by_material = {j.material: j for j in jobs}
        steps = [(job, None) for job in owned] + [(job, o) for job in owned for o in job.bakes]
        bar = Progress(len(steps), stem, enabled=progress)
        failed: set = set()
        for job, obj_name in steps:  # all syntheses first, then the Cycles bakes (which read them)
            what = job.material if obj_name is None else f"bake {obj_name}"
            if job.key in failed:
                bar.step(f"{what}: not run ({job.key} failed)")
                continue
            try:
                if obj_name is None:
                    made = _synth_step(baker, job, images)
                else:
                    made = _bake_step(baker, job, obj_name, images, by_material, source_sha[stem])
                bar.step(f"{what}: {'done' if made else 'skipped (done before)'}")
            except Exception as e:  # noqa: BLE001 - one bad job must not stop the batch
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                baker.errors.append({"job": job.key, "error": msg})
                failed.add(job.key)
                bar.step(f"{what}: FAILED ({msg})")
        for job in owned:
            if job.key not in failed:
                manifest.finish(baker, job)
        bar.close()
        _save_blend(out_blends[stem], recipe.pack_images)

    report = manifest.build_report(baker, all_jobs, scenes, out_blends, shard_t, time.time() - t_start)
    write_json(os.path.join(out_dir, "report.json"), report)
    if baker.errors:
        e = baker.errors[0]
        more = f" (+{len(baker.errors) - 1} more; see report.json)" if len(baker.errors) > 1 else ""
        raise BakeError(f"{len(baker.errors)} of {len(mine)} jobs failed: {e['job']}: {e['error']}{more}")
    return report



def _synth_step(baker: Baker, job: Job, images: dict) -> bool:
    """Synthesise the job's maps unless its manifest shows them done (same parameters, same hashes)."""
    record = manifest.base_record(baker, job)
    params = manifest.params_digest(baker.synth_params(job))
    made = False
    if not manifest.outputs_ok(record.get("synth"), params, baker.out_dir):
        t0 = time.time()
        outputs = baker.synthesise(job)
        record["synth"] = {"params": params, "outputs": outputs, "seconds": round(time.time() - t0, 3)}
        record["complete"] = False
        write_json(manifest.manifest_path(baker.out_dir, job), record)
        made = True
    for image in images[job.key].values():
        image.reload()
    return made


def _bake_step(baker: Baker, job: Job, obj_name: str, images: dict, by_material: dict, source_sha: str) -> bool:
    """Cycles-bake one object of the job unless its manifest shows it done."""
    import bpy
    obj = bpy.data.objects[obj_name]
    deps = []
    for slot in obj.material_slots:  # the maps of every texgan material on the object must exist
        other = by_material.get(slot.material.name) if slot.material else None
        if other is None:
            continue
        deps.append(baker.synth_params(other))
        if other is not job and not all(os.path.isfile(p) for p in other.maps.values()):
            baker.synthesise(other)  # another shard's job: deterministic, the same bytes it writes
            for image in images[other.key].values():
                image.reload()
    if obj_name in job.smart_uv and len(obj.data.uv_layers) == 0:
        cycles.smart_uv_project(obj)
    record = manifest.base_record(baker, job)
    bparams = manifest.params_digest(cycles.bake_params(baker, job, obj_name, source_sha, deps))
    bakes = record.setdefault("bakes", {})
    if manifest.outputs_ok(bakes.get(obj_name), bparams, baker.out_dir):
        return False
    t0 = time.time()
    outputs = cycles.bake_object(baker, job, obj_name)
    bakes[obj_name] = {"params": bparams, "outputs": outputs, "seconds": round(time.time() - t0, 3)}
    record["complete"] = False
    write_json(manifest.manifest_path(baker.out_dir, job), record)
    return True
