"""The panel's *New Model from Image* section: settings (scene.texgan_train), Train / Stop /
Resume / Use Now, progress text and the newest 2x2 tiled sample as a preview that refreshes."""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, PointerProperty, StringProperty

from . import panels
from .train_ops import active_material, with_train_settings
from .train_session import SESSION

_sample_key: list = [None]  # the sample's key in the panel's previews collection (one sample at a time)
_node_items_keepalive: list = []


def node_items(self, context):
    mat = active_material(context)
    nodes = [n for n in (mat.node_tree.nodes if mat is not None and mat.node_tree else [])
             if n.bl_idname == "ShaderNodeTexImage" and n.image is not None]
    items = [(n.name, f"{n.image.name} ({n.name})", f"The image of node '{n.name}'", 'IMAGE_DATA', i)
             for i, n in enumerate(nodes)]
    if not items:
        items = [("", "No Image Texture nodes", "The active material has no Image Texture node with an image",
                  'ERROR', 0)]
    _node_items_keepalive[:] = items
    return items


@with_train_settings
class TEXGAN_PG_train(bpy.types.PropertyGroup):
    """scene.texgan_train: the section's settings; the Train button hands them to the operator by name."""
    source: EnumProperty(name="Source", default='FILE', items=[
        ('FILE', "File", "An image file on disk"),
        ('NODE', "Image Node", "The image of an Image Texture node in the active material")])
    image: StringProperty(name="Image", subtype='FILE_PATH', description="The photo to learn from")
    node: EnumProperty(name="Node", items=node_items, description="Image Texture node of the active material")


def preview_icon(path: str | None) -> int:
    """The sample PNG as a preview icon, loaded again whenever the file (name or mtime) changes."""
    previews = panels.previews()
    if previews is None or not path or not os.path.isfile(path):
        return 0
    key = f"sample:{path}:{os.path.getmtime(path)}"
    if key not in previews:
        if _sample_key[0] in previews:   # older samples are not shown again
            del previews[_sample_key[0]]
        previews.load(key, path, 'IMAGE')
        _sample_key[0] = key
    return previews[key].icon_id


def draw_train(layout, context):
    props = context.scene.texgan_train
    col = layout.column()
    col.prop(props, "source", expand=True)
    col.prop(props, "image" if props.source == 'FILE' else "node", text="")
    col.prop(props, "name")
    row = col.row(align=True)
    row.active = not props.until_stopped
    row.prop(props, "minutes")
    col.prop(props, "until_stopped")
    col.prop(props, "quality")
    col.prop(props, "derive_maps")
    col.prop(props, "run_folder")

    running = SESSION.is_current(SESSION.active)
    resumable = SESSION.progress is not None and SESSION.progress.resumable
    row = layout.row(align=True)
    # Train stays there while another run trains: the new one is queued (one training at a time).
    row.operator("texgan.train", icon='PLAY').use_scene_settings = True
    if SESSION.running:
        row.operator("texgan.train_stop", icon='PAUSE')
    elif SESSION.active is not None and resumable:
        row.operator("texgan.train_resume", icon='FILE_REFRESH')
    if SESSION.active is not None and resumable:
        row.operator("texgan.train_use_now", icon='IMPORT')

    if SESSION.active is not None:
        box = layout.box()
        box.label(text=f"'{SESSION.name_of(SESSION.active)}'", icon='SORTTIME' if running else 'INFO')
        for line in SESSION.lines():
            box.label(text=line)
        icon = preview_icon(SESSION.progress.sample if SESSION.progress else None)
        if icon:
            box.template_icon(icon_value=icon, scale=8.0)
    level, text = SESSION.message
    if text:
        layout.label(text=text.removeprefix("texgan: ")[:120], icon='ERROR' if level == "ERROR" else 'INFO')


def _section(parent: str):
    class Section(bpy.types.Panel):
        bl_label = "New Model from Image"
        bl_parent_id = parent
        bl_options = {'DEFAULT_CLOSED'}

        def draw(self, context):
            draw_train(self.layout, context)
    return Section


class TEXGAN_PT_train_shader_editor(_section("TEXGAN_PT_shader_editor")):
    bl_idname = "TEXGAN_PT_train_shader_editor"
    bl_space_type = 'NODE_EDITOR'
    bl_region_type = 'UI'
    bl_category = "texgan"


class TEXGAN_PT_train_material(_section("TEXGAN_PT_material")):
    bl_idname = "TEXGAN_PT_train_material"
    bl_space_type = 'PROPERTIES'
    bl_region_type = 'WINDOW'
    bl_context = "material"


CLASSES = (TEXGAN_PG_train, TEXGAN_PT_train_shader_editor, TEXGAN_PT_train_material)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.texgan_train = PointerProperty(type=TEXGAN_PG_train)


def unregister():
    del bpy.types.Scene.texgan_train
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    _node_items_keepalive.clear()
    _sample_key[0] = None
