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

import random

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import library, modal_driver, nodes, settings as shared, worker
from .library import model_classes  # noqa: F401  (the panel and scripts look classes up here too)
from .preferences import library_models, settings
from .core.format import DEFAULT_BUMP_STRENGTH, material_record
from .targets import PlanError, plan_targets

# The one job the UI may run at a time (read by the panels for progress and Cancel).
STATE = {"job": None, "driver": None, "label": "", "last": "", "last_level": "INFO"}


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


@shared.with_settings
class TEXGAN_OT_generate(bpy.types.Operator):
    bl_idname = "texgan.generate"
    bl_label = "Generate Texture"
    bl_description = ("Paint a seamless texture with a texgan model and wire it into the material's Principled BSDF "
                      "(base colour, height through Bump, roughness, ...)")
    bl_options = {'REGISTER', 'UNDO'}

    # width, height, seed, texture_scale, target, apply_to_selected, seed_mode, storage, coordinates:
    # declared once in settings.py (with_settings) for this operator and the panel alike.
    model: StringProperty(name="Model", description="Path to a texgan .onnx model, or a model name in the library")
    material: StringProperty(name="Material", description="Name of a material to update instead (scripts)")
    device: EnumProperty(name="Device", default='PREFERENCES', items=[
        ('PREFERENCES', "Preferences", "Use the device set in the extension preferences"),
        ('AUTO', "Auto", "GPU when it works, else CPU"), ('GPU', "GPU", "CUDA only"), ('CPU', "CPU", "CPU only")])
    bump_strength: FloatProperty(name="Bump Strength", default=DEFAULT_BUMP_STRENGTH, min=0.0, max=1.0)
    tile: IntProperty(name="Tile", default=0, min=0, description="Tile side in pixels for large textures (0: automatic)")
    class_name: StringProperty(name="Class", description="Conditional models: a class name or index, or a blend "
                               "such as 'bricks:0.5,moss:0.5' (empty: the first class)")
    use_scene_settings: BoolProperty(name="Use the Panel's Settings", default=False, options={'HIDDEN', 'SKIP_SAVE'},
                                     description="Take the settings of the texgan panel (scene.texgan)")

    @classmethod
    def poll(cls, context):
        if running_job() is not None:
            cls.poll_message_set("texgan is already generating; wait or cancel it")
            return False
        return True

    # ---------------------------------------------------------------- planning (no data changes)

    def _prepare(self, context):
        if self.use_scene_settings:  # the panel's button: its settings, by the one list of names
            props = context.scene.texgan
            for name in shared.NAMES:
                setattr(self, name, getattr(props, name))
            # The class menu has no valid entry for an unconditional model, so it is read only where it means something.
            self.class_name = props.class_name if model_classes(self.model) else ""
            self.use_scene_settings = False
        s = settings(context)
        info = resolve_model(self.model, s["folders"])
        targets = plan_targets(context, self, info.name, s["max_size"])
        self._class = self._resolve_class(info)
        device = worker.DEVICES[s["device"] if self.device == 'PREFERENCES' else self.device]
        tasks = [worker.Task(seed, self.height, self.width) for seed in dict.fromkeys(t.seed for t in targets)]
        job = worker.Job(info.path, tasks, device=device, cuda_lib_dir=s["cuda_lib_dir"] or None,
                         tile=self.tile or None, class_weights=self._class)
        return info, targets, job

    def _resolve_class(self, info) -> str | None:
        """The class for a conditional model (class_name, else its first class); None for unconditional ones."""
        from .core.classes import resolve_class
        choice = self.class_name.strip() or None
        return resolve_class(model_classes(info.path), choice, f"model '{info.name}'", setting="a class",
                             default_first=True)[1]

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
                material["texgan"] = material_record(info.path, t.seed, self.width, self.height, self.texture_scale,
                                                     info.name, job.class_weights)
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
        n = len(library_models(context))
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

