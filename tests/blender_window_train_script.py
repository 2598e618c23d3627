"""Run inside a real Blender window (Debian's blender 3.4 under xvfb-run) by test_blender_window.py.

blender --factory-startup --python THIS -- ROOT SITE_PACKAGES PHOTO TRAINER_FLAGS OUT_JSON PY_X.Y

The Train button's path with Blender's own event loop: train('INVOKE_DEFAULT') returns at once,
the installation check runs on a thread, the extension's timer starts the trainer, refreshes the
progress and the preview; Stop (the trainer checkpoints), then Use Now (export on a thread) puts
the model in the library and selects it. This script's own timer counts its ticks while the trainer
runs: Blender kept running its event loop. The results go to OUT_JSON.
"""
import json
import os
import sys
import time
import traceback

import bpy

ROOT, SITE, PHOTO, FLAGS, OUT, VENV_PYTHON = sys.argv[sys.argv.index("--") + 1:][:6]
if "{}.{}".format(*sys.version_info[:2]) != VENV_PYTHON:
    with open(OUT, "w") as f:
        json.dump({"skip": f"this Blender runs Python {sys.version.split()[0]}, the test venv {VENV_PYTHON}"}, f)
    bpy.ops.wm.quit_blender()
    raise SystemExit
sys.path.insert(0, ROOT)
sys.path.append(SITE)

import addon  # noqa: E402
from addon import train_panel  # noqa: E402
from addon.train_session import SESSION  # noqa: E402

R = {"ticks_while_training": 0}
GIVE_UP = time.monotonic() + 300
STAGE = ["training"]


def override():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == 'VIEW_3D')
    return dict(window=window, screen=window.screen, area=area,
                region=next(r for r in area.regions if r.type == 'WINDOW'))


def op(name):
    with bpy.context.temp_override(**override()):
        return sorted(getattr(bpy.ops.texgan, name)('INVOKE_DEFAULT'))


def finish():
    addon.unregister()
    R["unregistered"] = not hasattr(bpy.types.Scene, "texgan_train")
    with open(OUT + ".tmp", "w") as f:
        json.dump(R, f, indent=1, default=str)
    os.replace(OUT + ".tmp", OUT)
    bpy.ops.wm.quit_blender()


def tick():
    try:
        if time.monotonic() > GIVE_UP:
            raise TimeoutError(f"stage {STAGE[0]} did not finish in time")
        p = SESSION.progress
        if STAGE[0] == "training":
            if SESSION.running:
                R["ticks_while_training"] += 1
            if SESSION.running and p is not None and p.sample and (p.checkpoint_step or 0) >= 2:
                R["running_lines"] = SESSION.lines()
                R["preview_icon"] = train_panel.preview_icon(p.sample)
                R["stop"] = op("train_stop")
                STAGE[0] = "stopping"
        elif STAGE[0] == "stopping":
            if not SESSION.running:
                R["stopped_message"], R["stopped_lines"] = SESSION.message[1], SESSION.lines()
                R["use_now"] = op("train_use_now")
                STAGE[0] = "exporting"
        elif STAGE[0] == "exporting":
            if not SESSION.exporting and bpy.context.scene.texgan.model.endswith(".onnx"):
                R["selected"], R["exported_message"] = bpy.context.scene.texgan.model, SESSION.message[1]
                finish()
                return None
        return 0.1
    except Exception:  # noqa: BLE001 - reported to the test, then Blender quits
        R["error"] = traceback.format_exc()
        SESSION.shutdown()
        finish()
        return None


def start():
    try:
        addon.register()
        props = bpy.context.scene.texgan_train
        props.image, props.name, props.until_stopped, props.derive_maps = PHOTO, "Window photo", True, True
        props.quality = 'DRAFT'
        with bpy.context.temp_override(**override()):
            # the panel's button, with tiny trainer flags (the operator's trainer_args) for a short test
            R["train"] = sorted(bpy.ops.texgan.train('INVOKE_DEFAULT', use_scene_settings=True, trainer_args=FLAGS))
        R["running_after_invoke"] = SESSION.running   # the installation check is still on its thread
        R["tick_registered"] = bpy.app.timers.is_registered(sys.modules["addon.train_ops"].tick)
    except Exception:  # noqa: BLE001
        R["error"] = traceback.format_exc()
        finish()
        return None
    bpy.app.timers.register(tick, first_interval=0.1)
    return None


bpy.app.timers.register(start, first_interval=0.5)
