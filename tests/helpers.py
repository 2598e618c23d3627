"""Pieces several tests (and bench/blender_overhead.py) share: scenes, recipes, jobs with a progress gate.

Also imported by tests/blender_window_script.py inside Debian's Blender 3.4, so: no pytest, and bpy only
inside the functions that need it.
"""
from __future__ import annotations

import threading

from addon import worker


# ---------------------------------------------------------------------------------------------- scenes

def plane_with_material(name: str = "Mat"):
    """A plane (made active) with one new material in its first slot: what most operator tests paint."""
    import bpy
    bpy.ops.mesh.primitive_plane_add()
    obj = bpy.context.active_object
    material = bpy.data.materials.new(name)
    obj.data.materials.append(material)
    return obj, material


def bake_scene(path, materials, n_objects: int, no_uv: tuple = ()):
    """Save a fresh .blend with objects Obj_00.. (spheres and cubes in turn, with UVs; those named in
    ``no_uv`` without), whose materials cycle over ``materials`` (so with fewer materials than objects,
    some are shared)."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    mats = []
    for name in materials:
        m = bpy.data.materials.new(name)
        if m.node_tree is None:
            m.use_nodes = True
        mats.append(m)
    for i in range(n_objects):
        if i % 2:
            bpy.ops.mesh.primitive_cube_add(size=1, location=(2 * i, 0, 0))
        else:
            bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, segments=12, ring_count=6, location=(2 * i, 0, 0))
        obj = bpy.context.object
        obj.name = f"Obj_{i:02d}"
        obj.data.name = f"Mesh_{i:02d}"
        obj.data.materials.append(mats[i % len(mats)])
        if obj.name in no_uv:
            while obj.data.uv_layers:
                obj.data.uv_layers.remove(obj.data.uv_layers[0])
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


# ---------------------------------------------------------------------------------------------- recipes

def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def recipe_toml(seed: int, defaults: dict, rules: list) -> str:
    """A bake recipe from Python values: top-level seed, [defaults], one [[rule]] per dict."""
    lines = [f"seed = {seed}", "[defaults]"] + [f"{k} = {_toml(v)}" for k, v in defaults.items()]
    for rule in rules:
        lines += ["", "[[rule]]"] + [f"{k} = {_toml(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- jobs

class ProgressWatch(worker.Job):
    """A real Job that calls :meth:`on_progress` whenever its progress is set (on the setting thread)."""

    @property
    def progress(self):
        return self._progress

    @progress.setter
    def progress(self, value):
        self._progress = value
        self.on_progress(value)

    def on_progress(self, value) -> None:
        pass


class GatedJob(ProgressWatch):
    """A real Job whose worker thread stops at each progress report until :meth:`step` lets it go on,
    so every report can be seen (by a test, or by a modal timer tick) whatever the machine's speed.

    ``reported`` is released once per report (for tests that block on it); ``parked`` is set while the
    worker waits (for Blender timers that poll it)."""

    def __init__(self, *args, **kw):
        self.reported = threading.Semaphore(0)
        self.parked = threading.Event()
        self._go = threading.Semaphore(0)
        super().__init__(*args, **kw)

    def on_progress(self, value) -> None:
        thread = getattr(self, "_thread", None)
        if thread is not None and threading.current_thread() is thread and not self.cancel_requested:
            self.parked.set()
            self.reported.release()
            self._go.acquire()

    def step(self) -> None:
        self.parked.clear()
        self._go.release()

    def cancel(self) -> None:  # a cancelled worker must not stay parked at the gate
        super().cancel()
        self._go.release()

    def wait_report(self, timeout: float = 120) -> None:
        assert self.reported.acquire(timeout=timeout), "the worker never reported progress"
