"""``bpy.ops.texgan.generate`` and friends.

Two paths, one result:
- invoked from the UI (``'INVOKE_DEFAULT'``, e.g. the Generate button): inference runs on a worker
  thread; a modal timer on the main thread shows progress, honours Cancel/Esc and applies the
  result. Blender never freezes.
- executed (a script's plain ``bpy.ops.texgan.generate(...)``, background mode ``blender -b``,
  the bpy module): synchronous, since timers do not fire there and scripts expect the result.

Everything is checked before inference starts (model readable, materials editable and with a
Principled BSDF, size within the limit); Blender data changes only on the main thread after a
successful run, inside one undo step. Errors are one line in the status bar, and nothing changes.
"""
from __future__ import annotations

import dataclasses
import os
import random

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import blender_images, library, modal_driver, nodes, worker
from .preferences import settings

# The one job the UI may run at a time (read by the panels for progress and Cancel).
STATE = {"job": None, "driver": None, "label": "", "last": "", "last_level": "INFO"}


class PlanError(ValueError):
    pass


@dataclasses.dataclass
class Target:
    material: str | None  # existing material name; None: create one named `new_name`
    new_name: str
    objects: list  # object names that get the material (for new materials)
    seed: int


_CLASSES: dict = {}  # (real path, size, mtime) -> class names from the model's metadata


def model_classes(path: str) -> list:
    """The class names of a conditional model (metadata `classes`); [] for unconditional or unreadable files."""
    if not path:
        return []
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return []
    key = (real, st.st_size, st.st_mtime_ns)
    if key not in _CLASSES:
        from . import inference
        try:
            _CLASSES[key] = list(inference.read_metadata(real).get("classes") or [])
        except Exception:  # noqa: BLE001 - the library reports unusable files
            _CLASSES[key] = []
    return _CLASSES[key]


def running_job():
    job = STATE["job"]
    return job if job is not None and not job.done.is_set() else None


def resolve_model(name_or_path: str, folders) -> library.ModelInfo:
    if not name_or_path:
        raise PlanError("no model chosen: pick one from the library or pass model='path/to/model.onnx'")
    info = library.LIBRARY.find(name_or_path, folders)
    if info is None:
        raise PlanError(f"model '{name_or_path}' not found: not a file and not in the library "
                        "(Preferences > Add-ons > texgan > Model Library Folders)")
    if not info.ok:
        raise PlanError(info.error)
    return info


def _can_hold_material(obj) -> bool:
    return obj is not None and obj.data is not None and hasattr(obj.data, "materials")


def _editable_object(obj) -> str | None:
    if obj.library is not None or (obj.data is not None and getattr(obj.data, "library", None) is not None):
        return f"object '{obj.name}' is linked from a library; its materials cannot be changed"
    return None


TARGET_ITEMS = [
    ('ACTIVE_MATERIAL', "Active Material", "Update the active material (a new one if the object has none)"),
    ('NEW_MATERIAL', "New Material", "Create a new material and put it in the object's active slot")]
SEED_ITEMS = [('SHARED', "One Seed", "Every object gets the same texture"),
              ('PER_OBJECT', "Seed per Object", "Each material gets its own seed: seed, seed+1, ...")]
STORAGE_ITEMS = [('PACK', "Pack into .blend", "Pack the images into the .blend file"),
                 ('SAVE', "Save beside .blend", "Write PNG/EXR files into 'textures' beside the saved .blend")]
COORD_ITEMS = [('UV', "UV", "Use the mesh's UV map"),
               ('BOX', "Box", "Box projection from object coordinates (meshes without good UVs)")]


class TEXGAN_OT_generate(bpy.types.Operator):
    bl_idname = "texgan.generate"
    bl_label = "Generate Texture"
    bl_description = ("Paint a seamless texture with a texgan model and wire it into the material's Principled BSDF "
                      "(base colour, height through Bump, roughness, ...)")
    bl_options = {'REGISTER', 'UNDO'}

    model: StringProperty(name="Model", description="Path to a texgan .onnx model, or a model name in the library")
    width: IntProperty(name="Width", default=1024, min=1, soft_min=16, soft_max=8192, max=16384, subtype='PIXEL')
    height: IntProperty(name="Height", default=1024, min=1, soft_min=16, soft_max=8192, max=16384, subtype='PIXEL')
    seed: IntProperty(name="Seed", default=0, min=0, description="Random seed: the same seed paints the same texture")
    target: EnumProperty(name="Target", default='ACTIVE_MATERIAL', items=TARGET_ITEMS)
    material: StringProperty(name="Material", description="Name of a material to update instead (scripts)")
    apply_to_selected: BoolProperty(name="Apply to Selected Objects", default=False,
                                    description="Texture every selected object, not only the active one")
    seed_mode: EnumProperty(name="Seeds", default='SHARED', items=SEED_ITEMS)
    texture_scale: FloatProperty(name="Texture Scale", default=1.0, min=0.001, soft_max=100.0,
                                 description="Repeats of the texture per UV unit (Mapping node scale)")
    storage: EnumProperty(name="Images", default='PACK', items=STORAGE_ITEMS)
    device: EnumProperty(name="Device", default='PREFERENCES', items=[
        ('PREFERENCES', "Preferences", "Use the device set in the extension preferences"),
        ('AUTO', "Auto", "GPU when it works, else CPU"), ('GPU', "GPU", "CUDA only"), ('CPU', "CPU", "CPU only")])
    coordinates: EnumProperty(name="Coordinates", default='UV', items=COORD_ITEMS)
    bump_strength: FloatProperty(name="Bump Strength", default=0.5, min=0.0, max=1.0)
    tile: IntProperty(name="Tile", default=0, min=0, description="Tile side in pixels for large textures (0: automatic)")
    class_name: StringProperty(name="Class", description="Conditional models: a class name or index, or a blend "
                               "such as 'bricks:0.5,moss:0.5' (empty: the first class)")

    @classmethod
    def poll(cls, context):
        if running_job() is not None:
            cls.poll_message_set("texgan is already generating; wait or cancel it")
            return False
        return True

    # ---------------------------------------------------------------- planning (no data changes)

    def _objects(self, context) -> list:
        if self.apply_to_selected:
            objs = [o for o in context.selected_objects if _can_hold_material(o)]
            active = context.object
            objs.sort(key=lambda o: (o != active, o.name))
            return objs
        obj = context.object
        return [obj] if _can_hold_material(obj) else []

    def _plan(self, context, info) -> list:
        model_name = info.name
        s = settings(context)
        for side in (self.width, self.height):
            if side > s["max_size"]:
                raise PlanError(f"{self.width}x{self.height} is larger than the maximum texture size "
                                f"{s['max_size']} (extension preferences)")
        shared = self.seed_mode == 'SHARED'
        targets: list[Target] = []
        if self.material:
            material = bpy.data.materials.get(self.material)
            if material is None:
                raise PlanError(f"no material named '{self.material}'")
            nodes.check_material(material)
            return [Target(material.name, "", [], self.seed)]
        objs = self._objects(context)
        for obj in objs:
            if (reason := _editable_object(obj)) and (self.target == 'NEW_MATERIAL' or obj.active_material is None):
                raise PlanError(reason)
        if self.target == 'NEW_MATERIAL':
            if not objs or shared:
                targets.append(Target(None, f"texgan {model_name}", [o.name for o in objs], self.seed))
            else:
                for i, obj in enumerate(objs):
                    targets.append(Target(None, f"texgan {model_name} {obj.name}", [obj.name], self.seed + i))
            return targets
        # ACTIVE_MATERIAL
        if not objs:
            material = getattr(context, "material", None)
            if material is None:
                raise PlanError("no active object with a material: select a mesh, or use target NEW_MATERIAL")
            nodes.check_material(material)
            return [Target(material.name, "", [], self.seed)]
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
            t.seed = self.seed if shared else self.seed + i
        if shared and sum(1 for t in targets if t.material is None) > 1:  # one shared new material
            new = [t for t in targets if t.material is None]
            new[0].objects = [name for t in new for name in t.objects]
            new[0].new_name = f"texgan {model_name}"
            targets = [t for t in targets if t.material is not None] + [new[0]]
        return targets

    def _prepare(self, context):
        s = settings(context)
        info = resolve_model(self.model, s["folders"])
        targets = self._plan(context, info)
        self._class = self._resolve_class(info)
        device = worker.DEVICES[s["device"] if self.device == 'PREFERENCES' else self.device]
        tasks = [worker.Task(seed, self.height, self.width) for seed in dict.fromkeys(t.seed for t in targets)]
        job = worker.Job(info.path, tasks, device=device, cuda_lib_dir=s["cuda_lib_dir"] or None,
                         tile=self.tile or None, class_weights=self._class)
        return info, targets, job

    def _resolve_class(self, info) -> str | None:
        """The class for a conditional model (class_name, else its first class); None for unconditional ones."""
        from . import inference
        classes = model_classes(info.path)
        choice = self.class_name.strip()
        if not classes:
            if choice:
                raise PlanError(f"model '{info.name}' is not conditional: it has no class '{choice}'")
            return None
        choice = choice or classes[0]
        inference.class_weights(classes, choice)  # ValueError (one line, lists the classes) if unknown
        return choice

    # ---------------------------------------------------------------- applying (main thread only)

    def _apply(self, context, info, targets, job) -> set:
        worker.record_run(job)
        if job.cancelled:
            self._say('WARNING', modal_driver.CANCELLED_TEXT)
            return {'CANCELLED'}
        if job.error:
            self._say('ERROR', f"texgan: {job.error}")
            return {'CANCELLED'}
        storage, save_dir = self.storage, None
        if storage == 'SAVE':
            if not bpy.data.filepath:
                self._say('WARNING', "texgan: the .blend is not saved yet, so the images are packed instead")
                storage = 'PACK'
            else:
                save_dir = bpy.path.abspath("//textures")
        done, errors = [], []
        for t in targets:
            maps = job.results[t.seed]
            try:
                if t.material is None:
                    material = nodes.new_material(t.new_name)
                    for name in t.objects:
                        obj = bpy.data.objects.get(name)
                        if obj is not None:
                            nodes.assign_material(obj, material)
                else:
                    material = bpy.data.materials.get(t.material)
                    if material is None:
                        raise nodes.MaterialError(f"material '{t.material}' was removed while generating")
                nodes.apply_maps(material, maps, scale=self.texture_scale, storage=storage, save_dir=save_dir,
                                 info={"model": info.name, "seed": t.seed}, bump_strength=self.bump_strength,
                                 coordinates=self.coordinates)
                material["texgan"] = {"model": info.path, "model_name": info.name, "seed": t.seed,
                                      "width": self.width, "height": self.height, "scale": self.texture_scale,
                                      **({"class": job.class_weights} if job.class_weights is not None else {})}
                done.append(material.name)
            except (nodes.MaterialError, ValueError, RuntimeError) as ex:
                errors.append(worker.one_line(ex))
        if job.results and "base_color" in next(iter(job.results.values())):
            library.remember_thumbnail(info, next(iter(job.results.values()))["base_color"])
        device = job.device or "?"
        where = f"{len(done)} materials" if len(done) != 1 else f"'{done[0]}'" if done else "nothing"
        label = info.name if job.class_weights is None else f"{info.name} ({job.class_weights})"
        line = f"texgan: {self.width}x{self.height} {label} into {where} on {device} in {job.seconds:.2f} s"
        if device != "CUDA" and job.fallback_reason and job.device_request != "cpu":
            line += f" (GPU not used: {job.fallback_reason})"
        if errors:
            self._say('ERROR', f"texgan: {errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
            if not done:
                return {'CANCELLED'}
        level = 'WARNING' if device != "CUDA" and job.fallback_reason and job.device_request != "cpu" else 'INFO'
        self._say(level, line)
        return {'FINISHED'}

    def _say(self, level, text):
        self.report({level}, text)
        STATE["last"], STATE["last_level"] = text, level

    # ---------------------------------------------------------------- entry points

    def execute(self, context):
        try:
            info, targets, job = self._prepare(context)
        except (PlanError, nodes.MaterialError, ValueError) as ex:
            self._say('ERROR', f"texgan: {worker.one_line(ex)}")
            return {'CANCELLED'}
        job.run()
        return self._apply(context, info, targets, job)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self._info, self._targets, job = self._prepare(context)
        except (PlanError, nodes.MaterialError, ValueError) as ex:
            self._say('ERROR', f"texgan: {worker.one_line(ex)}")
            return {'CANCELLED'}
        # The modal flow (progress, status text, Esc, apply or "nothing was changed") is the driver's.
        self._driver = modal_driver.ModalDriver(
            job, f"{self._info.name} {self.width}x{self.height}", say=self._say, state=STATE,
            apply=lambda context, job: self._apply(context, self._info, self._targets, job))
        context.window_manager.modal_handler_add(self)
        return self._driver.start(context)

    def modal(self, context, event):
        return self._driver.modal(context, event)

    def cancel(self, context):  # Blender ends the modal (e.g. the file is closed)
        self._driver.cancel(context)


class TEXGAN_OT_cancel(bpy.types.Operator):
    bl_idname = "texgan.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the texture being generated; nothing is changed"
    bl_options = {'INTERNAL'}

    def execute(self, context):
        job = running_job()
        if job is not None:
            job.cancel()
        return {'FINISHED'}


class TEXGAN_OT_refresh_library(bpy.types.Operator):
    bl_idname = "texgan.refresh_library"
    bl_label = "Refresh Library"
    bl_description = "Scan the model library folders again"
    bl_options = {'INTERNAL'}

    def execute(self, context):
        library.LIBRARY.clear()
        n = len(library.LIBRARY.scan(settings(context)["folders"]))
        self.report({'INFO'}, f"texgan: {n} models in the library")
        return {'FINISHED'}


def new_seed() -> int:
    return random.randrange(0, 2 ** 31 - 1)


CLASSES = (TEXGAN_OT_generate, TEXGAN_OT_cancel, TEXGAN_OT_refresh_library)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    job = STATE["job"]
    if job is not None:
        job.cancel()
        job.join(5.0)
    STATE.update(job=None, driver=None)
    worker.SESSIONS.clear()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)


# ---------------------------------------------------------------------------------------------
# For `texgan demo` and scripts: a .blend with a textured object, without the UI.

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
    material["texgan"] = {"model": str(model_path or ""), "seed": seed, "width": width, "height": height,
                          "scale": texture_scale}

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
