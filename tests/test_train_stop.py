"""How `texgan train` stops: SIGTERM / Ctrl-C checkpoint and exit, `--resume` continues; NaN/Inf is one line.

The signals go to a real `texgan train` process once it has logged its first step (a file handshake:
the run is then inside its training loop with its handlers set), never after a guessed sleep.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import EXEMPLARS, ROOT
from gan_core.checkpoint import module_state, read_checkpoint

PY = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
TINY = ["--size", "32", "--batch", "2", "--g-widths", "16", "16", "8", "8", "--d-widths", "8", "8", "8",
        "--local-channels", "2", "--global-channels", "2", "--periodic-channels", "1", "--seed", "3",
        "--log-every", "1", "--sample-every", "100000", "--checkpoint-every", "100000"]


def train_cmd(run: Path, *extra) -> list:
    return [PY, "-m", "texgan.cli", "train", str(EXEMPLARS / "moss"), "--out", str(run), *TINY, *extra]


def log_steps(run: Path) -> list:
    with (run / "log.csv").open(newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def wait_for_first_log_row(run: Path, proc: subprocess.Popen, err_file: Path) -> None:
    deadline = time.monotonic() + 300  # a hang guard only
    while not ((run / "log.csv").is_file() and log_steps(run)):
        if proc.poll() is not None:
            pytest.fail(f"train ended (rc {proc.returncode}) before its first log row: {err_file.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail("no log row after 300 s")
        time.sleep(0.05)


@pytest.mark.parametrize("sig, reason, code", [(signal.SIGTERM, "terminated", 0), (signal.SIGINT, "interrupted", 130)])
def test_signal_checkpoints_exits_and_resume_continues(tmp_path, sig, reason, code):
    run, err_file, out_file = tmp_path / "r", tmp_path / "err.txt", tmp_path / "out.txt"
    with err_file.open("w") as err, out_file.open("w") as out:
        proc = subprocess.Popen(train_cmd(run, "--steps", "1000000"), env=ENV, stdout=out, stderr=err, cwd=tmp_path)
        try:
            wait_for_first_log_row(run, proc, err_file)
            proc.send_signal(sig)
            assert proc.wait(timeout=300) == code, err_file.read_text()[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()
    _, info = read_checkpoint(run)
    step = info["step"]
    assert info["stopped_by"] == reason and 1 <= step < 1_000_000
    assert log_steps(run) == list(range(1, step + 1))  # every finished step logged, the last one too
    assert f"texgan: {reason}: step {step} " in out_file.read_text()
    assert "Traceback" not in err_file.read_text()

    # --resume goes on from that step to the new --steps, with the log continuing where it stopped.
    r = subprocess.run(train_cmd(run, "--resume", "--steps", str(step + 2)), env=ENV, capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    resumed, info = read_checkpoint(run)
    assert info["step"] == step + 2 and info["stopped_by"] == "steps"
    assert log_steps(run) == list(range(1, step + 3))
    if sig == signal.SIGTERM:  # and equals a run that was never stopped
        straight = tmp_path / "straight"
        r = subprocess.run(train_cmd(straight, "--steps", str(step + 2)), env=ENV, capture_output=True, text=True,
                           timeout=300, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        want, _ = read_checkpoint(straight)
        for prefix in ("G", "G_ema", "D"):
            a, b = module_state(resumed, prefix), module_state(want, prefix)
            assert a.keys() == b.keys()
            for k in a:
                assert torch.allclose(a[k], b[k], atol=1e-5), (prefix, k)


def test_divergence_is_one_line_and_keeps_the_good_checkpoint(tmp_path):
    run = tmp_path / "r"
    # Adam's step is about lr whatever the gradient: at 1e30 the weights overflow within a step or two.
    cmd = train_cmd(run, "--steps", "50", "--loss", "nonsat", "--optimizer", "adam", "--lr-g", "1e30", "--lr-d", "1e30")
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("texgan: error: training diverged at step ") and "lower learning rate" in last, last
    step = int(last.removeprefix("texgan: error: training diverged at step ").split()[0])
    _, info = read_checkpoint(run / "checkpoint.diverged.safetensors")
    assert info["stopped_by"] == "diverged" and info["step"] == step and step < 50
    assert all(s < step for s in log_steps(run))  # the NaN step is not logged as a result


def test_divergence_never_overwrites_the_good_checkpoint(tmp_path):
    """A run that goes NaN after a resume: the checkpoint it resumed from is kept byte for byte."""
    from gan_core.config import build_config
    from gan_core.train import Builders, build_models, train

    def nan_critic(cfg, *args, **kw):   # a real D whose logits turn NaN: the trainer's divergence path
        G, D = build_models(cfg, *args, **kw)
        D.register_forward_hook(lambda module, inputs, out: out * float("nan"))
        return G, D

    values = dict(data=str(EXEMPLARS / "moss"), out=str(tmp_path / "g"), steps=2, batch=2, size=32,
                  g_widths=(16, 16, 8, 8), d_widths=(8, 8, 8), sample_every=10 ** 6, quality_every=0)
    train(build_config(values), show_progress=False)
    before = (tmp_path / "g" / "checkpoint.safetensors").read_bytes()
    with pytest.raises(RuntimeError, match="training diverged at step 3"):
        train(build_config({**values, "steps": 10, "resume": True}), show_progress=False, builders=Builders(models=nan_critic))
    assert (tmp_path / "g" / "checkpoint.safetensors").read_bytes() == before
    assert read_checkpoint(tmp_path / "g" / "checkpoint.diverged.safetensors")[1]["stopped_by"] == "diverged"
