"""Run inside a real Blender window (Debian's blender 3.4 under xvfb-run) by test_blender_window.py.

blender --factory-startup --enable-event-simulate --python THIS -- ROOT SITE_PACKAGES MODEL OUT_JSON PY_X.Y

The extension's modules are imported from ROOT and register()ed by hand; bpy.app.timers drive the
steps, so Blender's own event loop delivers the modal operator's timer events. Each step:
1. generate('INVOKE_DEFAULT') on the default cube's material: worker thread, progress ticks, apply.
2. again, cancelled by a real Esc key event (Window.event_simulate): nothing changes.
3. again, cancelled by the panel's Cancel operator: nothing changes.
The worker is held at each progress report until a modal timer tick has shown it (a real Job with a
gate), so every report is seen by a tick whatever the machine's speed. The results go to OUT_JSON.
"""
import hashlib
import json
import os
import sys
import time
import traceback

import bpy

ROOT, SITE, MODEL, OUT, VENV_PYTHON = sys.argv[sys.argv.index("--") + 1:][:5]
if "{}.{}".format(*sys.version_info[:2]) != VENV_PYTHON:  # the venv's numpy/onnxruntime would not load
    with open(OUT, "w") as f:
        json.dump({"skip": f"this Blender runs Python {sys.version.split()[0]}, the test venv {VENV_PYTHON}: "
                           "its numpy and onnxruntime cannot be loaded there"}, f)
    bpy.ops.wm.quit_blender()
    raise SystemExit
sys.path.insert(0, ROOT)
sys.path.insert(1, os.path.join(ROOT, "tests"))  # helpers.GatedJob
sys.path.append(SITE)  # numpy and onnxruntime from the test's venv, after Blender's own paths

import numpy as np  # noqa: E402
import addon  # noqa: E402
from addon import operators, worker  # noqa: E402
from helpers import GatedJob  # noqa: E402  (the operator's real Job, held at each progress report)

R = {"blender": bpy.app.version_string, "python": sys.version.split()[0], "steps": []}
GIVE_UP = time.monotonic() + 240
worker.Job = GatedJob  # what operators builds in _prepare; the worker waits at each report for step()


def window_context():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == 'VIEW_3D')
    return dict(window=window, screen=window.screen, area=area,
                region=next(r for r in area.regions if r.type == 'WINDOW'))


def material():
    return bpy.data.objects["Cube"].active_material


def snapshot():
    tree = material().node_tree
    images = {}
    for node in tree.nodes:
        role = node.get("texgan_role", "")
        if role.startswith("image:"):
            img = node.image
            images[role[6:]] = {"size": list(img.size), "colorspace": img.colorspace_settings.name,
                                "sha": hashlib.sha256(np.asarray(img.pixels[:], np.float32).tobytes()).hexdigest(),
                                "to": sorted(f"{l.to_node.bl_idname}:{l.to_socket.name}" for l in node.outputs[0].links)}
    record = material().get("texgan")
    return {"nodes": sorted(n.name for n in tree.nodes), "images": images, "n_images": len(bpy.data.images),
            "record": dict(record.to_dict()) if record is not None else None}


def invoke(seed):
    with bpy.context.temp_override(**window_context()):
        result = bpy.ops.texgan.generate('INVOKE_DEFAULT', model=MODEL, width=96, height=64, seed=seed,
                                         tile=32, device='CPU', target='ACTIVE_MATERIAL')
    return sorted(result)


class Step:
    """One generate run, advanced by the timer: invoke, watch the ticks, then finish as `how` says."""

    def __init__(self, how, seed):
        self.how, self.seed, self.rec = how, seed, {"how": how, "ticks": []}
        self.job = None

    def advance(self):
        rec = self.rec
        if self.job is None:
            rec["before"] = snapshot()
            rec["poll_idle"] = bpy.ops.texgan.generate.poll()
            rec["invoke"] = invoke(self.seed)
            self.job = operators.STATE["job"]
            rec["poll_running"] = bpy.ops.texgan.generate.poll()
            rec["thread"] = self.job._thread.name if self.job is not None else None
            return False
        job, driver = self.job, operators.STATE.get("driver")
        if job.parked.is_set() and driver is not None and driver.percent == round(job.progress * 100):
            # a modal tick has shown this report: note it, then act or let the worker go on
            if not rec["ticks"] or rec["ticks"][-1]["percent"] != driver.percent:
                rec["ticks"].append({"percent": driver.percent, "status": driver.status})
            if self.how != "apply" and len(rec["ticks"]) == 2 and "cancel_sent" not in rec:
                rec["cancel_sent"] = self.how
                if self.how == "esc":  # a real key event through the window's queue to the modal handler
                    window = bpy.context.window_manager.windows[0]
                    window.event_simulate(type='ESC', value='PRESS')
                    window.event_simulate(type='ESC', value='RELEASE')
                else:  # the panel's Cancel button
                    with bpy.context.temp_override(**window_context()):
                        rec["cancel_op"] = sorted(bpy.ops.texgan.cancel())
            elif not job.cancel_requested and "cancel_sent" not in rec:
                job.step()
            return False
        if job.done.is_set() and operators.STATE["job"] is None:  # the modal has finished
            rec.update(after=snapshot(), status=operators.STATE["last"], level=operators.STATE["last_level"],
                       cancelled=job.cancelled, cancel_requested=job.cancel_requested,
                       poll_after=bpy.ops.texgan.generate.poll(), thread_alive=job._thread.is_alive())
            return True
        return False


STEPS = [Step("apply", 7), Step("esc", 8), Step("cancel button", 9)]


def tick():
    try:
        if time.monotonic() > GIVE_UP:
            raise TimeoutError("the window steps did not finish in 240 s")
        while STEPS and STEPS[0].advance():
            R["steps"].append(STEPS.pop(0).rec)
        if STEPS:
            return 0.02
        addon.unregister()
        R["unregistered"] = not hasattr(bpy.types, "TEXGAN_OT_generate")
    except Exception:  # noqa: BLE001 - reported to the test, then Blender quits
        R["error"] = traceback.format_exc()
        for step in STEPS:
            if step.job is not None:
                step.job.cancel()
        R["steps"].extend(s.rec for s in STEPS)
    with open(OUT + ".tmp", "w") as f:
        json.dump(R, f, indent=1, default=str)
    os.replace(OUT + ".tmp", OUT)
    bpy.ops.wm.quit_blender()
    return None


def start():
    try:
        addon.register()
        cube = bpy.data.objects["Cube"]
        bpy.context.view_layer.objects.active = cube
        R["material"] = cube.active_material.name
    except Exception:  # noqa: BLE001
        R["error"] = traceback.format_exc()
        with open(OUT, "w") as f:
            json.dump(R, f)
        bpy.ops.wm.quit_blender()
        return None
    bpy.app.timers.register(tick, first_interval=0.2)
    return None


bpy.app.timers.register(start, first_interval=0.5)  # once the window is up and the event loop runs
