"""Make docs/images/panel_training.png: the panel's New Model from Image section in a real Blender
window while a training runs (Debian's blender 3.4 under xvfb, the extension's modules registered
by hand, as tests/blender_window_script.py does). The Train button's own path runs: the installation
check on a thread, the trainer subprocess, the timer that refreshes progress and preview.

    blender -b --factory-startup --python-expr "import bpy; bpy.ops.wm.save_as_mainfile(filepath='start.blend')"
    PATH=.venv/bin:$PATH xvfb-run -a -s "-screen 0 1100x1300x24" blender --factory-startup start.blend \
        --python docs/images/make_panel_screenshot.py -- ROOT SITE_PACKAGES OUT.png

(a .blend on the command line: no splash screen over the window). docs/images/panel_training.png is
the area's screenshot cropped to the section: Image.open(OUT).crop((30, 470, 908, 1068)).
"""
import os
import sys
import time
import traceback

import bpy

ROOT, SITE, OUT = sys.argv[sys.argv.index("--") + 1:][:3]
sys.path.insert(0, ROOT)
sys.path.append(SITE)  # numpy and onnxruntime of the venv, after Blender's own paths
import addon  # noqa: E402
from addon import panels, train_panel  # noqa: E402
from addon.train_session import SESSION  # noqa: E402

GIVE_UP = time.monotonic() + 900
STATE = {"shot_at": None, "scrolls": 12}


def area():
    window = bpy.context.window_manager.windows[0]
    return window, max(window.screen.areas, key=lambda a: a.width * a.height)


def override():
    window, a = area()
    return dict(window=window, screen=window.screen, area=a, region=next(r for r in a.regions if r.type == 'WINDOW'))


def quit_with(msg):
    print("texgan screenshot:", msg)
    bpy.ops.wm.quit_blender()
    return None


def tick():
    try:
        if time.monotonic() > GIVE_UP:
            return quit_with("gave up")
        p = SESSION.progress
        if STATE["shot_at"] is None:
            if p is not None and p.sample and p.step >= 150 and SESSION.running:
                STATE["shot_at"] = time.monotonic() + 3.0   # let the preview icon render and the panel redraw
            return 1.0
        if time.monotonic() < STATE["shot_at"]:
            for a in bpy.context.window_manager.windows[0].screen.areas:
                a.tag_redraw()
            return 0.5
        with bpy.context.temp_override(**override()):
            for _ in range(STATE["scrolls"]):   # to the panel's end, where the section is
                bpy.ops.view2d.scroll_down(page=True)
        STATE["scrolls"] = 0
        bpy.context.window_manager.windows[0].cursor_warp(2, 2)   # no tooltip over the panel
        if not STATE.get("scrolled"):
            STATE["scrolled"] = True
            return 1.0   # let it redraw scrolled
        with bpy.context.temp_override(**override()):
            bpy.ops.screen.screenshot_area(filepath=OUT)
            bpy.ops.texgan.train_stop()
        while SESSION.running:
            SESSION.trainer.poll()
            time.sleep(0.2)
        return quit_with(f"wrote {OUT}")
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        SESSION.shutdown()
        return quit_with("failed")


def start():
    # Open for the picture: both panels are closed by default in Material Properties.
    panels.TEXGAN_PT_material.bl_options = set()
    train_panel.TEXGAN_PT_train_material.bl_options = set()
    addon.register()
    window, a = area()
    a.type = 'PROPERTIES'   # the big 3D viewport becomes a Properties editor
    bpy.app.timers.register(train, first_interval=1.0)
    return None


def train():
    try:
        area()[1].spaces.active.context = 'MATERIAL'   # its tabs exist once it has been drawn
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return quit_with("failed")
    bpy.context.scene.texgan.model = next(i[0] for i in panels.model_items(None, bpy.context)
                                          if i[0].endswith("bricks.onnx"))
    props = bpy.context.scene.texgan_train
    props.image = os.path.join(ROOT, "gan_core", "exemplars", "cobbles", "basecolor.png")
    props.name = "Cobbles photo"
    props.minutes = 5.0
    props.quality = 'DRAFT'
    props.derive_maps = True
    with bpy.context.temp_override(**override()):
        print(bpy.ops.texgan.train('INVOKE_DEFAULT', use_scene_settings=True))
    bpy.app.timers.register(tick, first_interval=1.0)
    return None


bpy.app.timers.register(start, first_interval=0.5)
