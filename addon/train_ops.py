"""``bpy.ops.texgan.train`` and its companions: stop, resume, use now, check the installation.

Training runs in a separate texgan installation's process (train_session / trainer_client, both
bpy-free). With a UI, every operator here returns at once and a timer (tick) watches the run,
refreshes the panel and, when the model is exported, refreshes the library and selects it.
Without one (``blender -b``, the bpy module) timers never fire, so ``train`` runs synchronously:
it returns FINISHED once the model is in the library, usable as ``generate(model=name)``.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import library
from . import trainer_client as tc
from .preferences import add_library_folder, export_folder, library_models, settings, user_dir
from .train_session import SESSION, run_folder

QUALITY_ITEMS = [(key, label, desc) for key, (label, desc, _flags) in tc.QUALITY_PRESETS.items()]
TICK_S = 1.0


def train_properties() -> dict:
    """The training settings, declared once for the operator and the panel (scene.texgan_train)."""
    return {
        "name": StringProperty(name="Name", description="The new model's name (empty: the image's file name)"),
        "minutes": FloatProperty(name="Minutes", default=10.0, min=0.0, soft_max=240.0,
                                 description="Training time budget of this run (and of each Resume)"),
        "until_stopped": BoolProperty(name="Train until Stopped", default=False,
                                      description="No time budget: train until Stop (or Use Now part-way)"),
        "quality": EnumProperty(name="Quality", items=QUALITY_ITEMS, default="STANDARD"),
        "derive_maps": BoolProperty(name="Derive Height & Roughness", default=True,
                                    description="Derive height and roughness maps from the photo and train a "
                                                "material model (base colour, height, roughness)"),
        "run_folder": StringProperty(name="Runs Folder", subtype='DIR_PATH',
                                     description="Where run folders go (empty: the extension's user folder)"),
    }


TRAIN_NAMES = tuple(train_properties())


def with_train_settings(cls):
    cls.__annotations__ = {**train_properties(), **cls.__dict__.get("__annotations__", {})}
    return cls


def line(text: str) -> str:
    """One status line, prefixed once (the trainer's own errors already say "texgan: error: ...")."""
    text = tc._last_line(str(text)) or str(text)
    return text if text.startswith("texgan:") else f"texgan: {text}"


def headless(context) -> bool:
    return bpy.app.background or context.window is None


def apply_events(context, events) -> None:
    """Exported models: rescan the library and select the newest in the panel, so Generate paints it."""
    if not events:
        return
    for ev in events:
        add_library_folder(os.path.dirname(ev.path), context)
    library.LIBRARY.clear()
    library_models(context)
    props = getattr(context.scene, "texgan", None)
    if props is not None:
        try:
            props.model = events[-1].path
        except TypeError:   # not listed after all (unreadable?): the library line says why
            return
        SESSION.message = ("INFO", SESSION.message[1] + " and selected")


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in (wm.windows if wm else []):
        for area in window.screen.areas:
            if area.type in ('NODE_EDITOR', 'PROPERTIES', 'PREFERENCES'):
                area.tag_redraw()


def tick():
    """The timer: what SESSION.tick() noticed, applied on the main thread. Also the step a
    background script drives by hand when it trains with wait=False."""
    try:
        apply_events(bpy.context, SESSION.tick())
    except Exception as ex:   # a timer that raises is dropped by Blender: report and keep watching
        SESSION.message = ("ERROR", tc._last_line(str(ex)) or type(ex).__name__)
    _redraw()
    busy = SESSION.running or SESSION.pending is not None or SESSION.exporting or SESSION.check["state"] == "checking"
    return TICK_S if busy else None


def ensure_timer() -> None:
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.2)


def image_from_node(material, node_name: str) -> str:
    """The file behind an Image Texture node's image; a packed image is written out first."""
    node = material.node_tree.nodes.get(node_name) if material and material.node_tree else None
    image = getattr(node, "image", None)
    if image is None:
        raise tc.TrainerError(f"no Image Texture node '{node_name}' with an image in the active material")
    path = bpy.path.abspath(image.filepath_raw, library=image.library) if image.filepath_raw else ""
    if path and os.path.isfile(path):
        return path
    if image.packed_file is not None:
        ext = os.path.splitext(image.filepath_raw)[1] or f".{image.file_format.lower()}"
        out = os.path.join(user_dir("inputs"), tc.model_file_name(image.name)[:-5] + ext)
        with open(out + ".tmp", "wb") as f:
            f.write(image.packed_file.data)
        os.replace(out + ".tmp", out)
        return out
    raise tc.TrainerError(f"image '{image.name}' is not saved to a file: save or pack it first")


def active_material(context):
    obj = getattr(context, "object", None)
    return obj.active_material if obj is not None else None


def source_image(context, props) -> str:
    if props.source == 'FILE':
        return props.image
    if not props.node:
        raise tc.TrainerError("the active material has no Image Texture node with an image")
    return image_from_node(active_material(context), props.node)


@with_train_settings
class TEXGAN_OT_train(bpy.types.Operator):
    bl_idname = "texgan.train"
    bl_label = "Train"
    bl_description = ("Train a new texgan model from a photo in a separate texgan installation, then put it in "
                      "the model library")
    bl_options = {'REGISTER'}

    image: StringProperty(name="Image", subtype='FILE_PATH', description="The photo (or exemplar) to learn from")
    steps: IntProperty(name="Steps", default=0, min=0, description="Generator steps (0: as long as Minutes allow)")
    library_folder: StringProperty(name="Library Folder", subtype='DIR_PATH',
                                   description="Where the model goes (empty: the first model library folder, "
                                               "else the extension's user folder)")
    trainer_args: StringProperty(name="Trainer Flags", description="More `texgan train` flags, e.g. '--seed 3'")
    wait: BoolProperty(name="Wait", default=True, options={'SKIP_SAVE'},
                       description="Without a UI: return when the model is in the library (off: return once "
                                   "started, for scripts that watch the run themselves)")
    use_scene_settings: BoolProperty(default=False, options={'HIDDEN', 'SKIP_SAVE'})

    def _job(self, context):
        if self.use_scene_settings:   # the panel's button: scene.texgan_train, by the one list of names
            props = context.scene.texgan_train
            for name in TRAIN_NAMES:
                setattr(self, name, getattr(props, name))
            self.image = source_image(context, props)
        image = bpy.path.abspath(self.image) if self.image else ""
        if not image:
            raise tc.TrainerError("no image: pick a file or an Image Texture node of the active material")
        name = self.name.strip() or Path(image).stem
        if self.until_stopped:
            minutes, steps = 0.0, None
        else:
            minutes, steps = self.minutes, self.steps or None
            if not minutes and steps is None:
                raise tc.TrainerError("give a time budget (minutes) or steps, or choose Train until Stopped")
        if steps is None and not minutes and headless(context) and self.wait:
            raise tc.TrainerError("Train until Stopped needs the Stop button; without a UI give minutes or steps "
                                  "(or wait=False and stop it from the script)")
        runs = bpy.path.abspath(self.run_folder) if self.run_folder else user_dir("runs")
        extra = tc.preset_args(self.quality) + shlex.split(self.trainer_args)
        job = tc.TrainJob(image, str(run_folder(runs, name)), minutes=minutes, steps=steps,
                          derive_maps=self.derive_maps, extra_args=extra, label=name)
        lib = bpy.path.abspath(self.library_folder) if self.library_folder else export_folder(context)
        return job, name, lib

    def execute(self, context):
        python = settings(context)["trainer_python"]
        try:
            job, name, lib = self._job(context)
            if not headless(context):
                self.report({'INFO'}, line(SESSION.start(job, name, lib, python, wait_for_check=False)))
                ensure_timer()
                return {'FINISHED'}
            msg = SESSION.start(job, name, lib, python)
        except (tc.TrainerError, ValueError) as ex:
            self.report({'ERROR'}, line(ex))
            return {'CANCELLED'}
        if not self.wait:
            self.report({'INFO'}, line(msg))
            return {'FINISHED'}
        events = SESSION.wait()
        apply_events(context, events)
        level, text = SESSION.message
        if level == "ERROR" or not events:
            self.report({'ERROR'}, line(text))
            return {'CANCELLED'}
        self.report({'INFO'}, line(text))
        return {'FINISHED'}

    def invoke(self, context, event):
        return self.execute(context)


class _SessionOp:
    """Stop / Resume / Use Now / Check: one call on SESSION, its message reported; background mode
    finishes the work in line (no timer there)."""
    bl_options = {'INTERNAL'}

    def act(self, context) -> str:
        raise NotImplementedError

    def execute(self, context):
        before = SESSION.message
        try:
            text = self.act(context)
            if headless(context):
                events = SESSION.tick(export_in_thread=False)
                apply_events(context, events)
                text = SESSION.message[1] if events else text
        except tc.TrainerError as ex:
            self.report({'ERROR'}, line(ex))
            return {'CANCELLED'}
        if SESSION.message is not before and SESSION.message[0] == "ERROR":   # what this call ended in
            self.report({'ERROR'}, line(SESSION.message[1]))
            return {'CANCELLED'}
        self.report({'INFO'}, line(text))
        if not headless(context):
            ensure_timer()
        return {'FINISHED'}


class TEXGAN_OT_train_stop(_SessionOp, bpy.types.Operator):
    bl_idname = "texgan.train_stop"
    bl_label = "Stop"
    bl_description = "Stop training: the trainer finishes its step and writes a checkpoint (Resume continues it)"

    def act(self, context):
        return SESSION.stop(wait=headless(context))


class TEXGAN_OT_train_resume(_SessionOp, bpy.types.Operator):
    bl_idname = "texgan.train_resume"
    bl_label = "Resume"
    bl_description = "Continue the stopped run from its checkpoint"

    def act(self, context):
        return SESSION.resume()


class TEXGAN_OT_train_use_now(_SessionOp, bpy.types.Operator):
    bl_idname = "texgan.train_use_now"
    bl_label = "Use Now"
    bl_description = "Export the run's newest checkpoint into the library and select it (training goes on)"

    def act(self, context):
        return SESSION.use_now(in_thread=not headless(context))


class TEXGAN_OT_check_installation(_SessionOp, bpy.types.Operator):
    bl_idname = "texgan.check_installation"
    bl_label = "Check"
    bl_description = "Look for the texgan installation that trains models (texgan doctor): versions and device"

    def act(self, context):
        python = settings(context)["trainer_python"]
        if not headless(context):
            SESSION.check_async(python)   # the preferences show the answer when it comes
            return "looking for texgan ..."
        SESSION.installation = None
        SESSION.find(python)
        return SESSION.check["line"]


@bpy.app.handlers.persistent
def _on_load_post(*_args):
    SESSION.shutdown()   # another file: no training keeps running for a scene that is gone


CLASSES = (TEXGAN_OT_train, TEXGAN_OT_train_stop, TEXGAN_OT_train_resume, TEXGAN_OT_train_use_now,
           TEXGAN_OT_check_installation)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_post.append(_on_load_post)


def unregister():
    SESSION.shutdown()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
