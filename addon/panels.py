"""The texgan panel, in the Shader Editor sidebar (tab "texgan") and in Material Properties."""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, PointerProperty

from . import library, operators, settings as shared
from .preferences import library_models

_previews = None  # bpy.utils.previews collection of model thumbnails
_items_keepalive: list = []  # Blender needs dynamic enum items kept alive by Python


def _thumbnail_icon(info) -> int:
    if _previews is None or not info.thumbnail or not os.path.isfile(info.thumbnail):
        return 0
    key = f"{info.thumbnail}:{os.path.getmtime(info.thumbnail)}"
    if key not in _previews:
        _previews.load(key, info.thumbnail, 'IMAGE')
    return _previews[key].icon_id


def previews():
    """The panel's bpy.utils.previews collection (model thumbnails, the training sample), None when unregistered."""
    return _previews


def model_items(self, context):
    models = library_models(context)
    items = []
    for i, info in enumerate(models):
        label = info.name + ("" if info.ok else " (unusable)")
        desc = (info.error if not info.ok else
                f"{', '.join(info.roles)}; {info.scale or '?'} px per cell; {info.path}")
        items.append((info.path, label, desc, _thumbnail_icon(info) or ('MATERIAL' if info.ok else 'ERROR'), i))
    if not items:
        items = [("", "No models", "Add a model folder in the extension preferences", 'ERROR', 0)]
    _items_keepalive[:] = items
    return items


_class_items_keepalive: list = []


def class_items(self, context):
    classes = operators.model_classes(self.model) if self.model else []
    items = [(c, c, f"Class {i} of the model", i) for i, c in enumerate(classes)]
    if not items:
        items = [("", "(no classes)", "This model has no classes", 0)]
    _class_items_keepalive[:] = items
    return items


@shared.with_settings
class TEXGAN_PG_settings(bpy.types.PropertyGroup):
    """scene.texgan: what the panel shows; the Generate button hands these to the operator by name."""
    model: EnumProperty(name="Model", items=model_items, description="A texture model from the library")
    class_name: EnumProperty(name="Class", items=class_items,
                             description="Conditional models: which texture class to paint")


class TEXGAN_OT_new_seed(bpy.types.Operator):
    bl_idname = "texgan.new_seed"
    bl_label = "New Seed"
    bl_description = "Pick a new random seed"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    def execute(self, context):
        context.scene.texgan.seed = operators.new_seed()
        return {'FINISHED'}


def _current_model(props):
    path = props.model
    return next((m for m in library.LIBRARY.models if m.path == path), None) if path else None


def draw_texgan(layout, context):
    props = context.scene.texgan
    info = _current_model(props)

    col = layout.column()
    if info is not None and info.thumbnail:
        col.template_icon_view(props, "model", show_labels=True, scale=6.0, scale_popup=5.0)
    row = col.row(align=True)
    row.prop(props, "model", text="")
    row.operator("texgan.refresh_library", text="", icon='FILE_REFRESH')
    if info is not None:
        box = col.box()
        if info.ok:
            box.label(text=f"Maps: {', '.join(info.roles)}", icon='NODE_MATERIAL')
            box.label(text=f"{info.scale or '?'} px per latent cell" + ("  (built-in)" if info.builtin else ""))
            if info.description:
                box.label(text=info.description[:80])
            classes = operators.model_classes(info.path)
            if classes:
                box.prop(props, "class_name")
        else:
            box.label(text=info.error[:100], icon='ERROR')

    col = layout.column(align=True)
    row = col.row(align=True)
    row.prop(props, "width")
    row.prop(props, "height")
    row = col.row(align=True)
    row.prop(props, "seed")
    row.operator("texgan.new_seed", text="", icon='FILE_REFRESH')
    col.prop(props, "texture_scale")

    col = layout.column()
    col.prop(props, "target", expand=True)
    col.prop(props, "apply_to_selected")
    if props.apply_to_selected:
        col.prop(props, "seed_mode", expand=True)
    col.prop(props, "coordinates", expand=True)
    col.prop(props, "storage", text="")

    job = operators.running_job()
    if job is not None:
        if hasattr(layout, "progress"):
            layout.progress(factor=job.progress, type='BAR', text=f"Generating {operators.STATE['label']}")
        else:
            layout.label(text=f"Generating {operators.STATE['label']} {job.progress * 100:.0f}%")
        layout.operator("texgan.cancel", icon='CANCEL')
    else:
        op = layout.operator("texgan.generate", text="Generate", icon='SHADING_TEXTURE')
        op.use_scene_settings = True  # the operator reads scene.texgan (settings.NAMES) itself
    if operators.STATE["last"]:
        icon = {'ERROR': 'ERROR', 'WARNING': 'ERROR'}.get(operators.STATE["last_level"], 'INFO')
        layout.label(text=operators.STATE["last"].removeprefix("texgan: ")[:120], icon=icon)


class _TexganPanel:
    bl_label = "texgan"

    def draw(self, context):
        draw_texgan(self.layout, context)


class TEXGAN_PT_shader_editor(_TexganPanel, bpy.types.Panel):
    bl_idname = "TEXGAN_PT_shader_editor"
    bl_space_type = 'NODE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "texgan"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", None) == 'ShaderNodeTree'


class TEXGAN_PT_material(_TexganPanel, bpy.types.Panel):
    bl_idname = "TEXGAN_PT_material"
    bl_space_type = 'PROPERTIES'
    bl_region_type = 'WINDOW'
    bl_context = "material"
    bl_options = {'DEFAULT_CLOSED'}

    @classmethod
    def poll(cls, context):
        return context.object is not None or getattr(context, "material", None) is not None


CLASSES = (TEXGAN_PG_settings, TEXGAN_OT_new_seed, TEXGAN_PT_shader_editor, TEXGAN_PT_material)


def register():
    global _previews
    import bpy.utils.previews
    _previews = bpy.utils.previews.new()
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.texgan = PointerProperty(type=TEXGAN_PG_settings)


def unregister():
    global _previews
    del bpy.types.Scene.texgan
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None
    _items_keepalive.clear()
    _class_items_keepalive.clear()
