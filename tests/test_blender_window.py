"""The Generate button's path as a user meets it: a real Blender window (Debian's blender under xvfb-run).

tests/blender_window_script.py registers the extension's modules by hand and lets Blender's event loop
drive `generate('INVOKE_DEFAULT')`: worker thread, modal timer ticks with progress and status text,
apply (three images wired), then Esc (a real key event) and the Cancel button ("nothing was changed").
tests/blender_window_train_script.py does the same for the Train button: invoke returns at once, the
extension's timer starts the trainer and refreshes progress and preview, Stop, Use Now selects the model.
The bpy 5.0.1 module tests stay the reference for the API; these are the only ones with a window.
`.ci/run` installs blender and xvfb when apt-get can; elsewhere the test is skipped and says why.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("blender_window_script.py")
MISSING = [tool for tool in ("blender", "xvfb-run") if shutil.which(tool) is None]


@pytest.fixture(scope="module")
def window_run(request, tmp_path_factory) -> dict:
    if MISSING:
        pytest.skip(f"needs {' and '.join(MISSING)} on the PATH (Debian: apt-get install blender xvfb; "
                    ".ci/run installs them when apt-get works)")
    tiny_onnx = request.getfixturevalue("tiny_onnx")  # only once the tools are known to be there
    return run_window(SCRIPT, tmp_path_factory.mktemp("window"), [str(tiny_onnx)], ["--enable-event-simulate"])


def run_window(script, work, args, blender_flags=(), path_first=None) -> dict:
    """blender SCRIPT -- ROOT SITE *args OUT PY_X.Y in a window under xvfb-run; the JSON it writes."""
    out = work / "result.json"
    user = work / "user"
    env = {**os.environ, "TMPDIR": str(work), "OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1",
           **{f"BLENDER_USER_{k}": str(user / k.lower()) for k in ("CONFIG", "SCRIPTS", "DATAFILES")}}
    env.pop("PYTHONPATH", None)
    if path_first:
        env["PATH"] = path_first + os.pathsep + env.get("PATH", "")
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "blender", "--factory-startup", *blender_flags,
           "--python", str(script), "--", str(ROOT), sysconfig.get_paths()["purelib"], *args,
           str(out), "{}.{}".format(*sys.version_info[:2])]
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=400)
    log = (proc.stdout + proc.stderr)[-4000:]
    assert out.is_file(), f"blender wrote no result (rc {proc.returncode}):\n{log}"
    result = json.loads(out.read_text())
    if "skip" in result:
        pytest.skip(result["skip"])
    assert "error" not in result, result["error"] + log
    assert "Traceback" not in proc.stdout + proc.stderr, log  # e.g. a panel that fails to draw in this Blender
    return result


def step(result, how) -> dict:
    (rec,) = [s for s in result["steps"] if s["how"] == how]
    return rec


def test_invoke_runs_on_the_worker_with_progress_then_wires_three_images(window_run):
    rec = step(window_run, "apply")
    assert rec["invoke"] == ["RUNNING_MODAL"] and rec["thread"] == "texgan-inference"
    assert rec["poll_idle"] and not rec["poll_running"] and rec["poll_after"] and not rec["thread_alive"]
    percents = [t["percent"] for t in rec["ticks"]]
    assert len(percents) >= 3 and percents == sorted(set(percents)) and 0 < percents[0] and percents[-1] == 100
    for t in rec["ticks"]:
        assert t["status"] == f"texgan: generating tiny 96x64 ... {t['percent']}%  (Esc to cancel)", t
    before, after = rec["before"], rec["after"]
    assert before["images"] == {} and before["record"] is None
    assert after["n_images"] == before["n_images"] + 3
    images = after["images"]
    assert images["base_color"]["to"] == ["ShaderNodeBsdfPrincipled:Base Color"]
    assert images["roughness"]["to"] == ["ShaderNodeBsdfPrincipled:Roughness"]
    assert images["height"]["to"] == ["ShaderNodeBump:Height"]
    assert {role: i["colorspace"] for role, i in images.items()} == {
        "base_color": "sRGB", "roughness": "Non-Color", "height": "Non-Color"}
    assert all(i["size"] == [96, 64] for i in images.values())
    assert after["record"]["seed"] == 7 and (after["record"]["width"], after["record"]["height"]) == (96, 64)
    assert rec["status"].startswith(f"texgan: 96x64 tiny into '{window_run['material']}' on CPU in "), rec["status"]
    assert rec["level"] == "INFO" and not rec["cancelled"]


@pytest.mark.parametrize("how", ["esc", "cancel button"])
def test_esc_and_cancel_change_nothing(window_run, how):
    rec = step(window_run, how)
    assert rec["invoke"] == ["RUNNING_MODAL"] and rec["cancel_sent"] == how
    assert [t["percent"] for t in rec["ticks"]][-1] < 100  # stopped mid-way
    assert rec["cancelled"] and rec["status"] == "texgan: cancelled; nothing was changed" and rec["level"] == "WARNING"
    assert rec["after"] == rec["before"]  # same nodes, links, image pixels and record as before
    assert rec["before"]["images"]  # (the material held the first run's images, so that means something)
    assert rec["poll_after"] and not rec["thread_alive"]


def test_unregister_after_the_runs(window_run):
    assert window_run["unregistered"]


TRAIN_SCRIPT = Path(__file__).with_name("blender_window_train_script.py")
TINY_TRAINING = ("--size 32 --batch 4 --local-channels 4 --global-channels 4 --g-widths 32 32 16 8 "
                 "--d-widths 16 32 32 --device cpu --sample-every 2 --checkpoint-every 2 --log-every 1")


@pytest.fixture(scope="module")
def train_window_run(tmp_path_factory) -> dict:
    if MISSING:
        pytest.skip(f"needs {' and '.join(MISSING)} on the PATH (Debian: apt-get install blender xvfb)")
    photo = ROOT / "gan_core" / "exemplars" / "planks" / "basecolor.png"
    # the trainer is the `texgan` of this venv, found on PATH as the preferences' default says
    return run_window(TRAIN_SCRIPT, tmp_path_factory.mktemp("train-window"), [str(photo), TINY_TRAINING],
                      path_first=os.path.dirname(sys.executable))


def test_train_button_returns_at_once_and_the_timer_runs_the_training(train_window_run):
    r = train_window_run
    assert r["train"] == ["FINISHED"] and r["tick_registered"]
    assert not r["running_after_invoke"]          # the installation check was still on its thread
    assert r["ticks_while_training"] >= 3         # Blender's event loop kept running the whole time
    lines = r["running_lines"]
    assert lines[0].startswith("Step ") and lines[0].endswith("(until stopped)") and "trained" in lines[1], lines
    assert r["preview_icon"] > 0                  # the newest tiled sample, loaded as a preview


def test_stop_then_use_now_in_the_window_selects_the_exported_model(train_window_run):
    r = train_window_run
    assert r["stop"] == ["FINISHED"] and "Resume continues it" in r["stopped_message"], r["stopped_message"]
    assert r["stopped_lines"][-1].startswith("Stopped (terminated), checkpoint at step"), r["stopped_lines"]
    assert r["use_now"] == ["FINISHED"]
    assert r["selected"].endswith("Window_photo.onnx") and os.path.isfile(r["selected"]), r["selected"]
    assert r["exported_message"].endswith("and selected") and r["unregistered"]
