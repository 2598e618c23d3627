"""`blender -b [SCENE.blend] -P <addon>/bake/__main__.py -- [MORE.blend ...] --recipe R.toml --out DIR`
(also `python -m addon.bake -- ...` with the bpy module). Run as a script, this file has no package,
so it finds the extension it belongs to (the installed one Blender already imported, or the source
tree it sits in), imports ``<package>.bake.cli`` and runs main()."""
import os
import sys


def _script_entry() -> None:
    import importlib
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # the extension's folder
    package = None
    for name, module in list(sys.modules.items()):  # the installed extension, already imported by Blender
        paths = getattr(module, "__path__", None)
        if paths and any(os.path.realpath(p) == here for p in paths) and name != "__main__":
            package = name
            break
    if package is None:
        parent, package = os.path.split(here)
        if parent not in sys.path:
            sys.path.insert(0, parent)
    extra = os.environ.get("TEXGAN_PYTHONPATH")  # e.g. a folder holding onnxruntime for Blender's Python
    if extra:
        for p in extra.split(os.pathsep):
            if p and p not in sys.path:
                sys.path.append(p)
    module = importlib.import_module(f"{package}.bake.cli")
    sys.exit(module.main())


if __name__ == "__main__":
    _script_entry()
