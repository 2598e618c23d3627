"""addon/trainer_client.py: find texgan, launch a real `texgan train` subprocess, watch, stop,
resume, queue, export; and `texgan doctor`. Runs are bounded by --steps, never by the clock
(the deadlines below only keep a hung test from hanging the suite)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from addon import trainer_client as tc
from addon.train_progress import clock, describe
from addon.train_session import run_folder
from conftest import EXEMPLARS, ROOT

PHOTO = EXEMPLARS / "planks" / "basecolor.png"
TINY = ["--size", "32", "--batch", "4", "--local-channels", "4", "--global-channels", "4",
        "--g-widths", "32", "32", "16", "8", "--d-widths", "16", "32", "32", "--log-every", "1", "--device", "cpu"]
SAFETY_S = 600


@pytest.fixture(scope="module")
def install() -> tc.Installation:
    return tc.find_installation(python=sys.executable)


def job(run, steps=None, **kw) -> tc.TrainJob:
    kw.setdefault("sample_every", 2)
    kw.setdefault("checkpoint_every", 2)
    return tc.TrainJob(image=str(kw.pop("image", PHOTO)), run=str(run), steps=steps, extra_args=TINY, **kw)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def wait_for(cond, what):
    end = time.time() + SAFETY_S
    while not cond():
        assert time.time() < end, f"gave up waiting for {what}"
        time.sleep(0.3)


def test_doctor_reports_versions_and_device():
    import torch
    from gan_core import __version__
    r = subprocess.run([sys.executable, "-m", "texgan.cli", "doctor", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["texgan_version"] == __version__ and report["torch_version"] == torch.__version__
    assert report["device"] == ("cuda" if torch.cuda.is_available() else "cpu") and report["ok"] is True


def test_find_installation_by_interpreter_and_venv(install, tmp_path):
    import torch
    assert install.torch_version == torch.__version__
    assert install.command[:3] == [sys.executable, "-m", "texgan.cli"]
    assert "trains on CPU" in install.describe() or "trains on CUDA" in install.describe()
    venv = Path(sys.executable).parent.parent   # the test venv as a folder
    assert tc.find_installation(python=str(venv)).texgan_version == install.texgan_version


def test_no_texgan_found_gives_a_one_line_reason_with_the_install_command(tmp_path):
    cases = {"path": dict(path_env=str(tmp_path)), "folder": dict(python=str(tmp_path)),
             "missing": dict(python=str(tmp_path / "nope" / "python"))}
    bare = tmp_path / "bare"   # a Python without texgan
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    cases["bare venv"] = dict(python=str(bare))
    for what, kw in cases.items():
        with pytest.raises(tc.TrainerNotFound) as e:
            tc.find_installation(**kw)
        msg = str(e.value)
        assert "\n" not in msg and "make setup" in msg, (what, msg)
    assert "not installed" in msg


def test_train_to_the_end_then_progress_and_export(install, tmp_path):
    run = tmp_path / "runs" / "planks"
    t = tc.Trainer(install)
    assert "training 'planks'" in t.submit(job(run, steps=4))
    [result] = t.wait(timeout=SAFETY_S)
    assert result.returncode == 0 and result.error is None, tc._tail(run / tc.TRAINER_LOG)
    p = tc.read_progress(run)
    assert (p.step, p.total_steps, p.checkpoint_step, p.stopped_by) == (4, 4, 4, "steps")
    assert p.remaining_s == 0 and p.elapsed_s > 0 and p.last_row["step"] == 4 and "loss_d" in p.last_row
    assert p.sample.endswith("tiled_000004.png")
    assert describe(p, running=False) == ["Step 4/4", f"{clock(p.elapsed_s)} trained", "Finished, checkpoint at step 4"]

    lib = tmp_path / "library"
    model = tc.export_run(install, run, lib, name="My planks!")
    assert model == lib / "My_planks.onnx" and model.is_file()
    meta = json.loads(subprocess.run([*install.command, "inspect", str(model)], capture_output=True, text=True,
                                     check=True).stdout)["metadata"]
    assert meta["name"] == "My planks!" and meta["channels"][:3] == ["base_color.r", "base_color.g", "base_color.b"]
    assert tc.export_run(install, run, lib, name="My planks!") == model   # "Use Now" again replaces it


def test_stop_checkpoints_resume_continues_and_queue_waits(install, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    t = tc.Trainer(install)
    t.submit(job(a, derive_maps=True))            # until stopped
    msg = t.submit(job(b, steps=2))
    assert msg.startswith("queued 'b'") and "'a' is running" in msg and "one training at a time" in msg
    with pytest.raises(tc.TrainerError, match="already being trained"):
        t.submit(job(a, steps=3))
    wait_for(lambda: (t.progress().checkpoint_step or 0) >= 2, "a first checkpoint of a")
    running = t.progress()
    assert running.total_steps is None and running.stopped_by is None and running.remaining_s is None  # until stopped
    assert (a / "derived" / "height.png").is_file()

    # "Use Now" part-way, while the trainer keeps going
    model = tc.export_run(install, a, tmp_path / "lib")
    assert model.is_file() and t.running

    pid = t.pid
    result = t.stop()
    assert result.stopped and result.error is None and not alive(pid)
    stopped = tc.read_progress(a)
    assert stopped.stopped_by == "terminated" and stopped.resumable
    assert stopped.checkpoint_step == stopped.step >= 2

    # the queued job started once a had stopped; it ends by its steps
    assert t.current.name == "b"
    [rb] = t.wait(timeout=SAFETY_S)
    assert rb.error is None and tc.read_progress(b).stopped_by == "steps"

    t.resume(job(a, steps=stopped.step + 2, derive_maps=True))
    [ra] = t.wait(timeout=SAFETY_S)
    assert ra.error is None, tc._tail(a / tc.TRAINER_LOG)
    resumed = tc.read_progress(a)
    assert (resumed.step, resumed.stopped_by) == (stopped.step + 2, "steps")
    assert "--resume" in (a / tc.TRAINER_LOG).read_text()


def test_bad_image_gives_the_trainers_one_line_error(install, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a PNG file")
    t = tc.Trainer(install)
    t.submit(job(tmp_path / "run", steps=2, image=bad))
    [r] = t.wait(timeout=SAFETY_S)
    assert r.returncode == 2 and r.error.startswith("texgan: error: cannot read image") and "\n" not in r.error
    assert "Traceback" not in r.error


def test_progress_reader_skips_a_half_written_row_and_png(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"steps": 100, "max_minutes": 0}))
    header = "step,seconds,loss_d,loss_g,penalty,d_real,d_fake,images_per_s\n"
    rows = "".join(f"{s},{s / 10},0.5,-0.2,0.1,0.3,-0.3,40.0\n" for s in range(10, 60, 10))
    (run / "log.csv").write_text(header + rows + "60,6.0,0.4")            # the trainer is mid-write
    from PIL import Image
    Image.new("RGB", (8, 8)).save(run / "samples" / "tiled_000040.png")
    (run / "samples" / "tiled_000050.png").write_bytes((run / "samples" / "tiled_000040.png").read_bytes()[:40])
    p = tc.read_progress(run)
    assert p.step == 50 and p.last_row["loss_d"] == 0.5 and p.elapsed_s == 5.0
    assert p.remaining_s == pytest.approx(5.0)                             # 50 steps left at 10 steps/s
    assert p.sample.endswith("tiled_000040.png") and not p.resumable
    (run / "log.csv").write_text(header + rows + "60,6.0,0.4,-0.1,0.1,0.3,-0.3,40.0\n")
    assert tc.read_progress(run).step == 60
    assert tc.read_progress(tmp_path / "empty").step == 0                  # nothing there yet: no error


def test_quality_figure_is_the_newest_measured_swd_ratio_and_the_panel_text_says_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"steps": 0 + tc.UNTIL_STOPPED_STEPS, "max_minutes": 0}))
    header = "step,seconds,loss_d,loss_g,penalty,d_real,d_fake,images_per_s,swd_ratio,swd_worst\n"
    rows = ("100,10,0.5,-0.2,0.1,0.3,-0.3,40.0,3.25,5.0\n"
            "110,11,0.5,-0.2,0.1,0.3,-0.3,40.0,,\n"       # the probe runs every N steps: empty cells between
            "200,20,0.5,-0.2,0.1,0.3,-0.3,40.0,2.5,4.0\n"
            "210,21,0.5,-0.2,0.1,0.3,-0.3,40.0,,\n")
    (run / "log.csv").write_text(header + rows)
    p = tc.read_progress(run, running_since=0.0)
    assert p.quality == 2.5 and p.step == 210 and p.total_steps is None
    assert describe(p, running=True) == ["Step 210 (until stopped)", "0:21 trained",
                                         "Quality (SWD ratio, 1 = like the photo): 2.50"]
    assert (clock(59.6), clock(3725), clock(None)) == ("1:00", "1:02:05", "?")


def test_a_new_training_of_a_name_never_lands_on_an_existing_run(tmp_path):
    assert run_folder(tmp_path, "My wall!") == tmp_path / "My_wall"
    (tmp_path / "My_wall").mkdir()
    (tmp_path / "My_wall" / "trainer.log").write_text("a failed start leaves no checkpoint: reuse the folder")
    assert run_folder(tmp_path, "My wall!") == tmp_path / "My_wall"
    (tmp_path / "My_wall" / "checkpoint.safetensors").write_bytes(b"")
    assert run_folder(tmp_path, "My wall!") == tmp_path / "My_wall-2"


def test_quality_presets_are_flags_the_trainer_has():
    r = subprocess.run([sys.executable, "-m", "texgan.cli", "train", "--help"], capture_output=True, text=True)
    known = set(re.findall(r"--[a-z][a-z0-9-]*", r.stdout))
    assert "STANDARD" in tc.QUALITY_PRESETS and tc.preset_args("STANDARD") == []
    for key in tc.QUALITY_PRESETS:
        flags = [a for a in tc.preset_args(key) if a.startswith("--")]
        assert set(flags) <= known, (key, flags)
    with pytest.raises(tc.TrainerError, match="unknown quality preset"):
        tc.preset_args("ULTRA")


@pytest.mark.skipif(os.name != "posix", reason="process groups and signals as on Linux/macOS")
@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_no_orphan_trainer_when_the_host_process_ends(install, tmp_path, how):
    """A host (think: Blender) starts a training and ends: normally (atexit stops the trainer)
    or killed outright (Linux: the trainer gets its parent-death signal)."""
    if how == "sigkill" and not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux-only")
    run = tmp_path / "run"
    host = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from addon import trainer_client as tc
        t = tc.Trainer(tc.Installation({install.command!r}, "", "", "cpu", "", ""))
        t.submit(tc.TrainJob(image={str(PHOTO)!r}, run={str(run)!r}, extra_args={TINY!r}))
        print(t.pid, flush=True)
        while not (tc.read_progress({str(run)!r}).step >= 1):
            time.sleep(0.2)
        print("training", flush=True)
        time.sleep(0 if {how!r} == "exit" else 3600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", host], stdout=subprocess.PIPE, text=True)
    trainer_pid = int(proc.stdout.readline())
    assert proc.stdout.readline().strip() == "training"
    if how == "sigkill":
        proc.send_signal(signal.SIGKILL)
    proc.wait(SAFETY_S)
    wait_for(lambda: not alive(trainer_pid), "the trainer to end with its host")
    if how == "exit":   # stopped cleanly, so the run can be resumed
        assert tc.read_progress(run).stopped_by == "terminated"
