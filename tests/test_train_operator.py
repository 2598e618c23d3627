"""bpy.ops.texgan.train and its companions, headless: the real bpy module with the extension
registered by hand, a real `texgan train` subprocess (the `texgan` on PATH: this venv's), tiny
models for a few steps. Runs end by their steps or by Stop after a recorded step, never by the clock
(the deadline only keeps a hung test from hanging the suite)."""
from __future__ import annotations

import os
import sys
import time

import pytest

from conftest import EXEMPLARS

bpy = pytest.importorskip("bpy")
pytestmark = [pytest.mark.blender, pytest.mark.slow]

PHOTO = EXEMPLARS / "planks" / "basecolor.png"
TINY = ("--size 32 --batch 4 --local-channels 4 --global-channels 4 --g-widths 32 32 16 8 --d-widths 16 32 32 "
        "--log-every 1 --device cpu --sample-every 2 --checkpoint-every 2")
SAFETY_S = 600


@pytest.fixture
def ext(tmp_path, monkeypatch):
    """The extension registered in a fresh scene, `texgan` on PATH, runs and library under tmp."""
    import addon
    from addon import train_ops
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    try:
        yield dict(run_folder=str(tmp_path / "runs"), library_folder=str(tmp_path / "lib"), trainer_args=TINY,
                   quality='DRAFT'), train_ops
    finally:
        addon.unregister()


def call(op, **kw):
    try:
        return sorted(op(**kw)), None
    except RuntimeError as ex:
        return ["CANCELLED"], str(ex).strip().removeprefix("Error: ").strip()


def tick_until(train_ops, cond, what):
    end = time.time() + SAFETY_S
    while not cond():
        assert time.time() < end, f"gave up waiting for {what}"
        train_ops.tick()   # what the timer does with a UI
        time.sleep(0.3)


def principled_links(material):
    return {(link.from_node.name, link.to_node.name, link.to_socket.name) for link in material.node_tree.links}


def test_train_from_a_photo_then_generate_paints_a_full_material(ext, tmp_path):
    opts, train_ops = ext
    result = call(bpy.ops.texgan.train, image=str(PHOTO), name="Planks photo", steps=4, minutes=0,
                  derive_maps=True, **opts)
    assert result == (["FINISHED"], None), result
    run = tmp_path / "runs" / "Planks_photo"
    assert (run / "checkpoint.safetensors").is_file() and (run / "derived" / "height.png").is_file()
    model = tmp_path / "lib" / "Planks_photo.onnx"
    assert model.is_file()
    assert bpy.context.scene.texgan.model == str(model)   # selected, so Generate paints it at once
    lines = train_ops.SESSION.lines()
    assert lines[0] == "Step 4/4" and lines[-1] == "Finished, checkpoint at step 4", lines

    bpy.ops.mesh.primitive_plane_add()
    obj = bpy.context.active_object
    obj.data.materials.append(bpy.data.materials.new("Wall"))
    assert call(bpy.ops.texgan.generate, model="Planks photo", width=32, height=32, device='CPU') == (["FINISHED"], None)
    links = principled_links(obj.active_material)
    assert {("texgan base_color", "Principled BSDF", "Base Color"), ("texgan roughness", "Principled BSDF", "Roughness"),
            ("texgan height", "texgan bump", "Height"), ("texgan bump", "Principled BSDF", "Normal")} <= links


def test_stop_part_way_leaves_a_resumable_checkpoint_and_resume_continues(ext, tmp_path):
    from addon import trainer_client as tc
    opts, train_ops = ext
    session = train_ops.SESSION
    result = call(bpy.ops.texgan.train, image=str(PHOTO), name="endless", until_stopped=True, wait=False,
                  derive_maps=False, **opts)
    assert result == (["FINISHED"], None), result
    tick_until(train_ops, lambda: session.progress and (session.progress.checkpoint_step or 0) >= 2,
               "a first checkpoint")
    assert session.lines()[0].endswith("(until stopped)")
    assert call(bpy.ops.texgan.train_stop) == (["FINISHED"], None)
    run = tmp_path / "runs" / "endless"
    stopped = tc.read_progress(run)
    assert stopped.stopped_by == "terminated" and stopped.resumable and stopped.checkpoint_step == stopped.step >= 2
    assert not session.running and "Resume continues it" in session.message[1]

    # Use Now exports the checkpoint part-way and selects it
    assert call(bpy.ops.texgan.train_use_now) == (["FINISHED"], None)
    assert bpy.context.scene.texgan.model == str(tmp_path / "lib" / "endless.onnx")

    assert call(bpy.ops.texgan.train_resume) == (["FINISHED"], None)
    assert session.running and "--resume" in (run / tc.TRAINER_LOG).read_text()
    tick_until(train_ops, lambda: session.progress.step > stopped.step, "a step after the resume")
    assert call(bpy.ops.texgan.train_stop) == (["FINISHED"], None)
    assert tc.read_progress(run).checkpoint_step > stopped.step


def test_no_texgan_found_gives_the_one_line_reason(ext, tmp_path, monkeypatch):
    opts, _ = ext
    monkeypatch.setenv("PATH", str(tmp_path))   # nothing called texgan here
    assert call(bpy.ops.texgan.check_installation)[0] == ["CANCELLED"]
    result, message = call(bpy.ops.texgan.train, image=str(PHOTO), steps=2, **opts)
    assert result == ["CANCELLED"] and "no texgan on PATH" in message and "make setup" in message, message
    assert "\n" not in message


def test_a_bad_image_gives_the_trainers_one_line_error(ext, tmp_path):
    opts, _ = ext
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a PNG file")
    result, message = call(bpy.ops.texgan.train, image=str(bad), steps=2, **opts)
    assert result == ["CANCELLED"] and message.startswith("texgan: error: cannot read image"), message
    assert "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "lib").exists() or not list((tmp_path / "lib").iterdir())
    assert call(bpy.ops.texgan.train, image="", steps=2, **opts)[1].startswith("texgan: no image")


def test_the_panel_source_can_be_an_image_node_file_or_packed(ext, tmp_path):
    from addon import trainer_client as tc
    _, train_ops = ext
    bpy.ops.mesh.primitive_plane_add()
    mat = bpy.data.materials.new("Photo")   # node-based by default in Blender 5
    bpy.context.active_object.data.materials.append(mat)
    node = mat.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = bpy.data.images.load(str(PHOTO))
    props = bpy.context.scene.texgan_train
    props.source = 'NODE'
    props.node = node.name
    assert train_ops.source_image(bpy.context, props) == str(PHOTO)
    node.image.pack()
    node.image.filepath_raw = str(tmp_path / "gone.png")   # packed, the file elsewhere is not needed
    out = train_ops.source_image(bpy.context, props)
    assert out != str(PHOTO) and open(out, "rb").read() == PHOTO.read_bytes()
    node.image = bpy.data.images.new("generated", 8, 8)
    with pytest.raises(tc.TrainerError, match="not saved to a file"):
        train_ops.source_image(bpy.context, props)


@pytest.mark.parametrize("how", ["load another file", "unregister"])
def test_loading_another_file_or_disabling_the_extension_stops_the_trainer(ext, tmp_path, how):
    from addon import trainer_client as tc
    from test_trainer_client import alive
    opts, train_ops = ext
    session = train_ops.SESSION
    assert call(bpy.ops.texgan.train, image=str(PHOTO), name="left", until_stopped=True, wait=False,
                derive_maps=False, **opts) == (["FINISHED"], None)
    pid = session.trainer.pid
    tick_until(train_ops, lambda: session.progress and session.progress.step >= 1, "a first step")
    if how == "unregister":
        import addon
        addon.unregister()
        addon.register()   # the fixture unregisters again at the end
    else:
        bpy.ops.wm.read_factory_settings(use_empty=True)   # load_post
    assert not alive(pid) and not session.running
    assert tc.read_progress(tmp_path / "runs" / "left").stopped_by == "terminated"   # with a checkpoint


def test_a_second_training_is_queued_then_runs_and_lands_in_the_library(ext, tmp_path):
    from addon import trainer_client as tc
    opts, train_ops = ext
    session = train_ops.SESSION
    assert call(bpy.ops.texgan.train, image=str(PHOTO), name="first", until_stopped=True, wait=False,
                derive_maps=False, **opts) == (["FINISHED"], None)
    assert call(bpy.ops.texgan.train, image=str(PHOTO), name="second", steps=2, wait=False,
                derive_maps=False, **opts) == (["FINISHED"], None)
    assert session.message[1].startswith("queued 'second': one training at a time, 'first' is running")
    assert session.lines() == ["Queued: one training at a time"]
    tick_until(train_ops, lambda: tc.read_progress(tmp_path / "runs" / "first").step >= 1, "a step of the first run")
    assert call(bpy.ops.texgan.train_stop) == (["FINISHED"], None)
    # the queue starts the second run; the timer's ticks follow it, export it (on a thread) and select it
    model = tmp_path / "lib" / "second.onnx"
    tick_until(train_ops, lambda: bpy.context.scene.texgan.model == str(model), "the second model selected")
    assert session.name_of(session.active) == "second" and model.is_file()
    assert not (tmp_path / "lib" / "first.onnx").exists()   # stopped, not exported: Use Now would
