"""Extension preferences: model library folders, device, CUDA library folder, size limit, device line,
and the texgan installation that trains new models (with what its check found)."""
from __future__ import annotations

import os
import tempfile

import bpy
from bpy.props import CollectionProperty, EnumProperty, IntProperty, StringProperty

from . import library, worker
from .train_session import SESSION
from .core.format import DEFAULT_UI_MAX_SIZE, MAX_SIDE

PACKAGE = __package__


def get_prefs(context=None):
    """The extension's preferences, or None when this package is not enabled as an add-on (scripts, tests)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon is not None else None


def settings(context=None) -> dict:
    """Preferences as plain values, with defaults when the add-on is not enabled. The library
    folders end with the extension's own models folder, where trained models go by default."""
    p = get_prefs(context)
    if p is None:
        s = {"folders": [], "device": "AUTO", "cuda_lib_dir": "", "max_size": DEFAULT_UI_MAX_SIZE, "trainer_python": ""}
    else:
        s = {"folders": [f.path for f in p.library_folders if f.path], "device": p.device,
             "cuda_lib_dir": bpy.path.abspath(p.cuda_lib_dir) if p.cuda_lib_dir else "", "max_size": p.max_size,
             "trainer_python": bpy.path.abspath(p.trainer_python) if p.trainer_python else ""}
    s["folders"] += [f for f in [user_dir("models"), *_session_folders] if f not in s["folders"]]
    return s


_session_folders: list = []   # library folders models were exported to without the preferences


def add_library_folder(folder: str, context=None) -> None:
    """Make a folder a trained model went to part of the library: in the preferences when the
    extension is enabled (it stays there), else for this session."""
    if folder in settings(context)["folders"]:
        return
    p = get_prefs(context)
    if p is not None:
        p.library_folders.add().path = folder
    else:
        _session_folders.append(folder)
    library.LIBRARY.clear()


def export_folder(context=None) -> str:
    """Where a trained model goes: the first model library folder, else the extension's models folder."""
    return settings(context)["folders"][0]


def library_models(context=None) -> list:
    """The models of the library folders (and the built-in ones), scanned as the preferences say."""
    return library.LIBRARY.scan(settings(context)["folders"])


def user_dir(sub: str = "") -> str:
    """texgan's user data folder (bpy.utils.extension_path_user), or a temp folder outside an extension."""
    try:
        return bpy.utils.extension_path_user(PACKAGE, path=sub, create=True)
    except (ValueError, KeyError, TypeError, AttributeError):  # not running as an extension (bl_ext.*)
        path = os.path.join(tempfile.gettempdir(), "texgan-user", sub)
        os.makedirs(path, exist_ok=True)
        return path


def _library_changed(self, context):
    library.LIBRARY.clear()


class TEXGAN_PG_folder(bpy.types.PropertyGroup):
    path: StringProperty(name="Folder", subtype='DIR_PATH', update=_library_changed,
                         description="A folder of texgan .onnx models")


class TEXGAN_OT_folder_add(bpy.types.Operator):
    bl_idname = "texgan.folder_add"
    bl_label = "Add Library Folder"
    bl_description = "Add a folder of texgan .onnx models to the library"
    bl_options = {'INTERNAL'}

    def execute(self, context):
        get_prefs(context).library_folders.add()
        return {'FINISHED'}


class TEXGAN_OT_folder_remove(bpy.types.Operator):
    bl_idname = "texgan.folder_remove"
    bl_label = "Remove Library Folder"
    bl_options = {'INTERNAL'}
    index: IntProperty()

    def execute(self, context):
        folders = get_prefs(context).library_folders
        if 0 <= self.index < len(folders):
            folders.remove(self.index)
            library.LIBRARY.clear()
        return {'FINISHED'}


class TEXGAN_OT_check_devices(bpy.types.Operator):
    bl_idname = "texgan.check_devices"
    bl_label = "Check Devices"
    bl_description = "Find out which ONNX Runtime execution providers work here (starts a CUDA session if it can)"
    bl_options = {'INTERNAL'}

    def execute(self, context):
        s = settings(context)
        models = [m for m in library_models(context) if m.ok]
        model = models[0].path if models else None
        if bpy.app.background:
            worker.check_devices(model, s["cuda_lib_dir"] or None)
        else:
            worker.check_devices_async(model, s["cuda_lib_dir"] or None)
            bpy.app.timers.register(_redraw_prefs_until_checked, first_interval=0.5)
        return {'FINISHED'}


def _redraw_prefs_until_checked():
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == 'PREFERENCES':
                area.tag_redraw()
    return 0.5 if worker.device_report()["state"] == "checking" else None


class TEXGAN_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    library_folders: CollectionProperty(type=TEXGAN_PG_folder)
    device: EnumProperty(
        name="Device",
        items=[("AUTO", "Auto", "The GPU (CUDA) when it works here, else the CPU; the status bar says which ran"),
               ("GPU", "GPU", "CUDA only: fail with the reason instead of falling back to the CPU"),
               ("CPU", "CPU", "Always the CPU")],
        default="AUTO")
    cuda_lib_dir: StringProperty(
        name="CUDA Libraries", subtype='DIR_PATH',
        description="Optional folder holding the CUDA and cuDNN libraries ONNX Runtime needs "
                    "(cudart, cublas, cudnn ...). Empty: nvidia-* Python packages, then the system search path")
    max_size: IntProperty(name="Maximum Texture Size", default=DEFAULT_UI_MAX_SIZE, min=64, max=MAX_SIDE,
                          description="Largest width or height Generate accepts, in pixels")
    trainer_python: StringProperty(
        name="texgan Installation", subtype='FILE_PATH',
        description="What trains new models: a Python interpreter, a virtual environment folder or a texgan "
                    "executable of a texgan installation (empty: texgan on the PATH)")

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        col.label(text="Model Library Folders")
        for i, folder in enumerate(self.library_folders):
            row = col.row(align=True)
            row.prop(folder, "path", text="")
            row.operator("texgan.folder_remove", text="", icon='X').index = i
        col.operator("texgan.folder_add", icon='ADD')
        n_builtin = len([m for m in library.LIBRARY.scan([], include_builtin=True) if m.builtin])
        col.label(text=f"Built-in starter models: {n_builtin}", icon='INFO')

        col = layout.column()
        col.use_property_split = True
        col.prop(self, "device", expand=True)
        col.prop(self, "cuda_lib_dir")
        col.prop(self, "max_size")

        box = layout.box()
        report = worker.device_report()
        if report["state"] == "unchecked":
            report = worker.quick_check()
        row = box.row()
        if report["state"] == "checking":
            row.label(text=report["line"], icon='SORTTIME')
        else:
            icon = 'CHECKMARK' if report["gpu_ok"] else ('ERROR' if report["gpu_ok"] is False else 'INFO')
            for i, chunk in enumerate(_wrap(report["line"], 110)):
                box.label(text=chunk, icon=icon if i == 0 else 'BLANK1')
        box.operator("texgan.check_devices", icon='FILE_REFRESH')

        box = layout.box()
        box.label(text="Training (New Model from Image)")
        box.prop(self, "trainer_python")
        check = SESSION.check
        icon = {"ok": 'CHECKMARK', "error": 'ERROR', "checking": 'SORTTIME'}.get(check["state"], 'INFO')
        line = check["line"] or "not checked yet: Check looks for texgan, its torch and the device it trains on"
        for i, chunk in enumerate(_wrap(line, 110)):
            box.label(text=chunk, icon=icon if i == 0 else 'BLANK1')
        box.operator("texgan.check_installation", icon='VIEWZOOM')


def _wrap(text: str, width: int) -> list:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + ([line] if line else [])


CLASSES = (TEXGAN_PG_folder, TEXGAN_OT_folder_add, TEXGAN_OT_folder_remove, TEXGAN_OT_check_devices,
           TEXGAN_AP_preferences)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    library.set_thumbnail_dir(user_dir("thumbnails"))


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
