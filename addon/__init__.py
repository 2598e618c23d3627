"""texgan Blender extension: seamless GAN textures from ONNX models, straight into materials.

This package is both the Blender extension (id ``texgan``; Blender imports it as
``bl_ext.<repository>.texgan``) and the home of the bpy-free core (``core/``: model format,
painting, files) that ``texgan generate``, ``texgan bake`` and ``export/`` import as
``addon.core`` outside Blender (``inference.py`` and ``maps.py`` re-export it for old imports). So this file must stay importable without ``bpy``:
the Blender-facing modules are imported inside :func:`register` / :func:`unregister` only.
All imports inside the package are relative.
"""
from __future__ import annotations

# Blender-facing modules, registered in this order and unregistered in reverse.
# (blender_images registers the save_pre handler that packs images left for save time.)
_BPY_MODULES = ("preferences", "blender_images", "operators", "panels", "train_ops", "train_panel")


def _modules():
    import importlib
    return [importlib.import_module(f".{name}", __package__) for name in _BPY_MODULES]


def register():
    for module in _modules():
        module.register()


def unregister():
    for module in reversed(_modules()):
        try:
            module.unregister()
        except Exception as ex:  # keep going: a half-unregistered add-on is worse
            print(f"texgan: unregistering {module.__name__} failed: {ex}")
