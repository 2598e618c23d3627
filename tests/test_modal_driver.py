"""The modal generate flow (addon/modal_driver.py), driven tick by tick in the real bpy 5.0.1 module.

A real Job paints with the real model on its worker thread; the only addition is a gate that holds the
worker at each progress report until the test has ticked the driver, so every report is seen by exactly
one tick and nothing depends on timing. (The same flow in a real window: test_blender_window.py.)
"""
from __future__ import annotations

import types

import pytest

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.blender

import addon  # noqa: E402
from addon import modal_driver, nodes, operators, worker  # noqa: E402
from helpers import GatedJob, plane_with_material  # noqa: E402

W, H, TILE = 48, 32, 16


ESC = types.SimpleNamespace(type='ESC', value='PRESS')      # the two fields of an event the driver reads
TIMER = types.SimpleNamespace(type='TIMER', value='NOTHING')
MOUSE = types.SimpleNamespace(type='MOUSEMOVE', value='NOTHING')


@pytest.fixture()
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    _, material = plane_with_material()
    try:
        yield material
    finally:
        job = operators.STATE["job"]
        if job is not None:
            job.cancel()
        if operators.TEXGAN_OT_generate.is_registered:
            addon.unregister()


def snapshot(material) -> dict:
    tree = material.node_tree
    return {"nodes": sorted(n.name for n in tree.nodes), "images": len(bpy.data.images),
            "links": sorted((l.from_node.name, l.to_node.name, l.to_socket.name) for l in tree.links),
            "record": "texgan" in material}


def start(model, material, *, seed=5):
    """A driver on a real gated job, the way the operator's invoke builds one; returns it and its log."""
    job = GatedJob(str(model), [worker.Task(seed, H, W)], device="cpu", tile=TILE)
    log = {"said": [], "applied": []}

    def apply(context, job):  # stands in for the operator's _apply: wires the maps into the material
        log["applied"].append(job)
        nodes.apply_maps(material, job.results[seed], scale=1.0)
        material["texgan"] = {"seed": seed}
        return {'FINISHED'}

    driver = modal_driver.ModalDriver(job, f"tiny {W}x{H}", apply=apply, state=operators.STATE,
                                      say=lambda level, text: log["said"].append((level, text)))
    assert driver.start(bpy.context) == {'RUNNING_MODAL'}
    return driver, job, log


def test_ticks_show_progress_then_apply_once(scene, tiny_onnx):
    before = snapshot(scene)
    driver, job, log = start(tiny_onnx, scene)
    assert operators.STATE["job"] is job and operators.running_job() is job
    seen = []
    while True:
        job.wait_report()
        assert driver.modal(bpy.context, MOUSE) == {'PASS_THROUGH'}  # other events go to Blender
        assert driver.modal(bpy.context, TIMER) == {'PASS_THROUGH'}
        seen.append(driver.percent)
        assert driver.percent == round(job.progress * 100)
        assert driver.status == f"texgan: generating tiny {W}x{H} ... {driver.percent}%  (Esc to cancel)"
        assert snapshot(scene) == before and not log["applied"]  # nothing changes while it runs
        if job.progress >= 1.0 and job.results:
            break
        job.step()
    job.step()
    assert job.join(120) and job.error is None
    assert len(seen) >= 4 and seen == sorted(seen) and 0 < seen[0] < 50 and seen[-1] == 100, seen
    assert driver.tick(bpy.context) == {'FINISHED'}
    assert log["applied"] == [job] and log["said"] == []
    assert operators.STATE["job"] is None and bpy.ops.texgan.generate.poll()
    after = snapshot(scene)
    assert after["record"] and after["images"] == before["images"] + 3
    assert driver.tick(bpy.context) == {'FINISHED'} and log["applied"] == [job]  # a late timer applies nothing twice


def test_poll_refuses_while_a_job_runs(scene, tiny_onnx):
    assert bpy.ops.texgan.generate.poll()
    driver, job, log = start(tiny_onnx, scene)
    job.wait_report()
    assert not bpy.ops.texgan.generate.poll()
    with pytest.raises(RuntimeError, match="already generating"):
        bpy.ops.texgan.generate(model=str(tiny_onnx), width=16, height=16)
    bpy.ops.texgan.cancel()
    assert job.join(120)
    assert driver.tick(bpy.context) == {'CANCELLED'}
    assert bpy.ops.texgan.generate.poll()


@pytest.mark.parametrize("how", ["esc", "cancel button", "cancel after the last tile"])
def test_cancel_and_esc_leave_the_material_untouched(scene, tiny_onnx, how):
    before = snapshot(scene)
    driver, job, log = start(tiny_onnx, scene)
    job.wait_report()
    if how == "cancel after the last tile":  # the worker has painted everything; the user still said no
        while not job.results:
            job.step()
            job.wait_report()
    if how == "esc":
        assert driver.modal(bpy.context, ESC) == {'RUNNING_MODAL'}
    else:
        assert bpy.ops.texgan.cancel() == {'FINISHED'}
    assert job.cancel_requested
    assert job.join(120)
    assert bool(job.results) == (how == "cancel after the last tile")
    assert driver.modal(bpy.context, TIMER) == {'CANCELLED'}
    assert log["said"] == [('WARNING', "texgan: cancelled; nothing was changed")] and not log["applied"]
    assert snapshot(scene) == before
    assert operators.STATE["job"] is None


def test_unregistering_mid_job_stops_the_worker(scene, tiny_onnx):
    before = snapshot(scene)
    driver, job, log = start(tiny_onnx, scene)
    job.wait_report()
    thread = job._thread
    assert thread.is_alive() and not job.done.is_set()
    addon.unregister()
    assert job.done.is_set() and job.cancelled and not thread.is_alive() and not job.results
    assert operators.STATE["job"] is None
    driver.cancel(bpy.context)  # Blender ends the modal of an operator that is gone
    assert not log["applied"] and snapshot(scene) == before
