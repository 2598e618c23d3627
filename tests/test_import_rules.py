"""Who may import whom: every import in the project (top level or inside a function) is an edge between
two units, and only the edges the README's layout table allows pass. The table is the one list: this
test reads it (rows = units, named by folders ``dir/``, files or ``*`` patterns; the last column's
backticked names = what the unit may import), so the README and the rules cannot drift apart.
"""
from __future__ import annotations

import ast
import re
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WATCHED_THIRD_PARTY = {"bpy", "mathutils", "torch", "onnx", "onnxruntime", "PIL"}
EVERYTHING = "*"


def layout_table(text: str) -> list[tuple[list[str], list[str]]]:
    """(names of the unit, what it may import) per row of the README's "## Layout" table."""
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # past header and |---|
    table = []
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[0])
        allowed = [EVERYTHING] if cells[-1].startswith("everything") else re.findall(r"`([^`]+)`", cells[-1])
        table.append((names, allowed))
    return table


TABLE = layout_table((ROOT / "README.md").read_text(encoding="utf-8"))
UNITS = [names[0] for names, _ in TABLE]  # a unit is called by the first name in its row
# The top-level folders the table speaks of (tests/ imports anything and is not scanned).
PACKAGES = tuple(sorted({n.split("/")[0] for names, _ in TABLE for n in names} - {"tests"}))
NOT_OURS = {"tests", "build", "dist", "runs", "demo"}  # output folders of make and the CLI (.gitignore)


def _unit_named(name: str) -> str | None:
    return next((names[0] for names, _ in TABLE if name in names), None)


ALLOWED = {names[0]: ({EVERYTHING} if allowed == [EVERYTHING] else
                      {_unit_named(a) or a for a in allowed}) for names, allowed in TABLE}


def unit_of_path(rel: str) -> str | None:
    """The row a file (path relative to the root, '/'-separated) belongs to: an exact file name first,
    then the longest folder, then a pattern (whose '*' stays inside one folder)."""
    exact = [names[0] for names, _ in TABLE if rel in names]
    if exact:
        return exact[0]
    folders = [(len(n), names[0]) for names, _ in TABLE for n in names if n.endswith("/") and rel.startswith(n)]
    if folders:
        return max(folders)[1]
    parts = rel.split("/")
    for names, _ in TABLE:
        for n in names:
            pat = n.split("/")
            if "*" in n and len(pat) == len(parts) and all(fnmatchcase(a, b) for a, b in zip(parts, pat)):
                return names[0]
    return None


def unit_of_module(name: str) -> str | None:
    """A dotted import name -> its unit: a watched third-party module, the row of our file that holds it
    ("addon.core.maps.quantize" -> addon/core/maps.py), or None (standard library, numpy, ...)."""
    parts = name.split(".")
    if parts[0] in WATCHED_THIRD_PARTY:
        return parts[0]
    if parts[0] not in PACKAGES:
        return None
    while parts:
        base = ROOT.joinpath(*parts)
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return unit_of_path(path.relative_to(ROOT).as_posix())
        parts = parts[:-1]
    return None


def unit_of_file(path: Path) -> str | None:
    return unit_of_path(path.relative_to(ROOT).as_posix())


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path):
    """(line, dotted name) of every import; ``from a import b`` names a.b (a module, or a name in a)."""
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
            else:
                target = node.module
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


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
            if dst is None or dst == src or EVERYTHING in ALLOWED[src]:
                continue
            if dst not in ALLOWED[src]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {src} -> {dst} ({name})")
    assert not bad, "imports outside the edges the README's layout table allows:\n" + "\n".join(bad)


def test_the_table_covers_every_file_and_names_only_real_things():
    """Every project file is in a row; every name in the table is a real file, folder or pattern with
    files, and every allowed import is a row or a watched module (a typo in the README fails here)."""
    assert len(TABLE) >= 10 and len(set(UNITS)) == len(UNITS)
    tops = {d.name for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name not in NOT_OURS
            and not d.name.endswith(".egg-info") and any(d.rglob("*.py"))}
    assert tops <= set(PACKAGES), f"folders with Python code in no row of the README's layout table: {tops - set(PACKAGES)}"
    unruled = [str(p.relative_to(ROOT)) for p in source_files() if unit_of_file(p) is None]
    assert not unruled, f"files in no row of the README's layout table: {unruled}"
    for names, allowed in TABLE:
        for n in names:
            if n == "tests/":
                continue  # tests are not checked (they may import everything)
            hits = [p for p in source_files() if unit_of_file(p) == names[0]
                    and fnmatchcase(p.relative_to(ROOT).as_posix(), n + "*" if n.endswith("/") else n)]
            assert hits, f"README layout table: {n!r} names no file of its row"
        for a in allowed:
            assert a == EVERYTHING or _unit_named(a) or a in WATCHED_THIRD_PARTY, f"README layout table: {a!r}"


def test_the_rules_mean_something():
    """The checker sees edges: the real tree has the expected ones, and forbidden ones stay forbidden."""
    seen = {(unit_of_file(p), unit_of_module(n)) for p in source_files() for _, n in imports(p)}
    core, bake, ui, worker = "addon/core/", "addon/bake/", "addon/*.py", "addon/worker.py"
    for edge in [("export/", core), ("texgan/", core), ("texgan/", bake), (ui, "bpy"), (bake, core),
                 (worker, core), (bake, ui), ("addon/modal_driver.py", worker)]:
        assert edge in seen, edge
    for src, dst in [(core, "bpy"), ("gan_core/", "onnx"), ("export/", ui), ("texgan/", ui), (core, "gan_core/"),
                     ("gan_core/", core), ("addon/trainer_client.py", "bpy"), ("addon/trainer_client.py", core),
                     ("addon/modal_driver.py", "bpy"), (worker, "bpy"), ("texgan/", worker), (core, ui),
                     ("addon/train_session.py", "bpy"), ("addon/train_progress.py", core)]:
        assert dst not in ALLOWED[unit_of_path(src) or src], (src, dst)
    assert unit_of_module("addon.operators") == ui and unit_of_module("addon.core.paint.paint") == core
    assert unit_of_module("addon.bake.__main__") == bake and unit_of_module("addon.demo_scene") == "addon/demo_scene.py"
    assert unit_of_module("addon") == "addon/__init__.py" and unit_of_module("numpy") is None


def test_package_and_core_import_without_bpy():
    """The bpy-free units really import without bpy (the old narrow rule, kept as one of the rules), and
    so do the bake package and the command line, which `texgan generate` and `texgan --help` load."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['bpy'] = None\n"  # any 'import bpy' would now fail
            "import addon, addon.inference, addon.maps, addon.library, addon.worker\n"
            "import addon.trainer_client, addon.train_progress, addon.train_session\n"
            "import addon.core.model, addon.core.paint, addon.core.files, addon.core.format\n"
            "import addon.bake, addon.targets\n"  # the bake package loads bpy only where it bakes
            "from texgan.cli import build_parser; build_parser()\n"  # every command registers its flags
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
