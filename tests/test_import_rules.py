"""Who may import whom: every import in the project (top level or inside a function) is an edge between
two units, and only the edges listed here are allowed. The README's layout table says the same.

Units: gan_core, export, texgan, bench, examples; the extension's bpy-free core ``addon.core``; its
bake package ``addon.bake``; the Blender-facing modules (``addon.ui``: operators, panels,
preferences, settings, targets, nodes, blender_images, demo_scene, modal_driver, ...); its bpy-free
helpers ``addon.library`` and ``addon.worker``; and ``addon`` itself (package __init__ and the
re-exporting shims inference.py and maps.py). Third-party names that matter are units too.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gan_core", "export", "addon", "texgan", "bench", "examples")
BPY_FREE_ADDON = {"library", "worker", "inference", "maps", "__init__"}
WATCHED_THIRD_PARTY = {"bpy", "mathutils", "torch", "onnx", "onnxruntime", "PIL"}

# unit -> the units (ours and the watched third-party ones) it may import; itself is always allowed.
ALLOWED = {
    "gan_core": {"torch", "PIL"},
    "export": {"gan_core", "addon.core", "torch", "onnx", "onnxruntime"},
    "addon.core": {"onnxruntime"},
    "addon": {"addon.core"},
    "addon.library": {"addon.core"},
    "addon.trainer": set(),   # trainer_client, train_progress, train_session: stdlib only
    "addon.worker": {"addon.core", "onnxruntime"},
    "addon.ui": {"addon.core", "addon.library", "addon.worker", "addon.trainer", "bpy", "mathutils", "onnxruntime"},
    "addon.bake": {"addon.core", "addon.ui", "bpy"},
    "addon.demo_scene": {"addon.core", "addon.worker", "addon.ui", "bpy", "mathutils"},  # what `texgan demo` calls
    "texgan": {"gan_core", "export", "addon", "addon.core", "addon.bake", "addon.demo_scene", "torch", "onnx",
               "onnxruntime", "PIL", "bpy"},
    "bench": {"gan_core", "export", "texgan", "addon", "addon.core", "addon.library", "addon.worker", "addon.ui",
              "addon.bake", "torch", "onnx", "onnxruntime", "PIL", "bpy"},
    "examples": {"bpy"},
}


def unit_of_module(name: str) -> str | None:
    parts = name.split(".")
    top = parts[0]
    if top in WATCHED_THIRD_PARTY:
        return top
    if top not in PACKAGES:
        return None
    if top != "addon":
        return top
    if len(parts) == 1:
        return "addon"
    sub = parts[1]
    if sub in ("core", "bake"):
        return f"addon.{sub}"
    if sub == "demo_scene":
        return "addon.demo_scene"
    if sub in ("library", "worker"):
        return f"addon.{sub}"
    if sub in ("trainer_client", "train_progress", "train_session"):
        return "addon.trainer"
    if sub in ("inference", "maps", "__init__"):
        return "addon"
    return "addon.ui"


def unit_of_file(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return unit_of_module(".".join(rel.parts))


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            else:
                names = [node.module]
            for n in names:
                # "from . import nodes" names a module; "from .core.maps import x" names .core.maps
                yield node.lineno, n


def source_files():
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def test_every_import_is_an_allowed_edge():
    bad = []
    for path in source_files():
        src = unit_of_file(path)
        for line, name in imports(path):
            dst = unit_of_module(name)
            if dst is None or dst == src:
                continue
            if dst not in ALLOWED[src]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {src} -> {dst} ({name})")
    assert not bad, "imports outside the allowed edges:\n" + "\n".join(bad)


def test_the_rules_mean_something():
    """The checker sees edges: a forbidden one written here is caught, and the real tree has the expected ones."""
    seen = {(unit_of_file(p), unit_of_module(n)) for p in source_files() for _, n in imports(p)}
    for edge in [("export", "addon.core"), ("texgan", "addon.core"), ("texgan", "addon.bake"),
                 ("addon.ui", "bpy"), ("addon.bake", "addon.core"), ("addon.worker", "addon.core")]:
        assert edge in seen, edge
    for forbidden in [("addon.core", "bpy"), ("gan_core", "onnx"), ("export", "addon.ui"), ("texgan", "addon.ui"),
                      ("addon.core", "gan_core"), ("gan_core", "addon.core")]:
        assert forbidden[1] not in ALLOWED[forbidden[0]], forbidden
    assert unit_of_module("addon.operators") == "addon.ui" and unit_of_module("addon.core.paint") == "addon.core"


def test_package_and_core_import_without_bpy():
    """The bpy-free units really import without bpy (the old narrow rule, kept as one of the rules)."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['bpy'] = None\n"  # any 'import bpy' would now fail
            "import addon, addon.inference, addon.maps, addon.library, addon.worker\n"
            "import addon.trainer_client, addon.train_progress, addon.train_session\n"
            "import addon.core.model, addon.core.paint, addon.core.files, addon.core.format\n"
            "assert callable(addon.register) and callable(addon.unregister)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_no_import_cycles_between_modules():
    """Module-level graph of our modules (every import, also inside functions); gan_core's own
    distributed <-> train pair is its owner's to fix, so gan_core is left out here."""
    files = {module_name(p): p for p in source_files() if not module_name(p).startswith("gan_core")}
    graph = {}
    for name, path in files.items():
        deps = set()
        for _, target in imports(path):
            while target and target not in files:  # "from .core.maps import x" -> addon.core.maps
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        graph[name] = deps
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
