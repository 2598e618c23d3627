"""Train texgan models from the Blender extension: find, launch, watch, stop and export (bpy-free).

The extension cannot carry PyTorch, so training runs as a subprocess of a separate texgan
installation. This module, stdlib only, is the whole client side:

* find_installation(): `texgan` on PATH, or a given Python interpreter / virtual environment,
  probed with `texgan doctor --json` (texgan and torch versions, the device it would train on);
  when nothing usable is found, TrainerNotFound says why in one line, with the install command.
* Trainer: one `texgan train` at a time, each in its own process group, further jobs queued;
  stop() sends one SIGTERM (the trainer finishes its step, checkpoints and exits), resume()
  continues the run; shutdown() runs at interpreter exit and kills anything left, so closing
  Blender never leaves an orphan trainer.
* read_progress(run) (from train_progress): step, elapsed/remaining, the quality figure and the
  newest tiled sample, from the run folder alone.
* QUALITY_PRESETS: the panel's quality menu as `texgan train` flags, in this one place.
* export_run(): `texgan export` of a finished or part-way run into a model library folder.

Nothing here blocks for long except find_installation() and export_run() (they run torch in a
subprocess); call those off Blender's main thread or in background mode.
"""
from __future__ import annotations

import atexit
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Progress reading lives in train_progress; its names stay importable from here.
from .train_progress import (UNTIL_STOPPED_STEPS, Progress, checkpoint_info, newest_sample,  # noqa: F401
                             read_progress)

INSTALL_HINT = ("install texgan with Python 3.11: git clone the texgan repository, run `make setup` in it, "
                "then set its .venv folder in the texgan preferences (or put .venv/bin on PATH)")
PROBE_TIMEOUT_S = 120      # importing torch the first time can be slow on a cold disk
STOP_TIMEOUT_S = 60        # a checkpoint of the default model takes well under a second; be patient
TRAINER_LOG = "trainer.log"
ERROR_PREFIX = "texgan: error:"
# Subprocesses start here: with `python -m texgan.cli`, the working folder is on sys.path, and a
# texgan source tree that happens to be there must not stand in for the installation.
NEUTRAL_CWD = tempfile.gettempdir()


class TrainerError(RuntimeError):
    """Something the user can fix; str() is one line."""


class TrainerNotFound(TrainerError):
    """No usable texgan installation; str() says why and how to install one."""


# --- finding an installation ---------------------------------------------------------------

@dataclasses.dataclass
class Installation:
    command: list              # argv prefix that runs texgan: ["/x/texgan"] or ["/x/python", "-m", "texgan.cli"]
    texgan_version: str
    torch_version: str
    device: str                # "cuda" or "cpu": what `texgan train --device auto` will use
    device_name: str
    python: str

    def describe(self) -> str:
        return (f"texgan {self.texgan_version}, torch {self.torch_version}, trains on "
                f"{self.device.upper()} ({self.device_name})")


def _venv_entry(folder: Path) -> list | None:
    """A virtual environment (or any prefix) folder -> the command that runs its texgan."""
    for sub in ("bin", "Scripts"):
        for name in ("python", "python3", "python.exe"):
            exe = folder / sub / name
            if exe.is_file():
                return [str(exe), "-m", "texgan.cli"]
    return None


def candidate_commands(python: str | None = None, path_env: str | None = None) -> list:
    """Commands to try, best first. python: an interpreter, a venv folder or a texgan executable;
    without it, `texgan` on PATH (path_env overrides $PATH, for tests)."""
    if python:
        p = Path(python).expanduser()
        if p.is_dir():
            cmd = _venv_entry(p)
            if cmd is None:
                raise TrainerNotFound(f"no Python interpreter in {p} (looked in bin/ and Scripts/); {INSTALL_HINT}")
            return [cmd]
        if not p.is_file():
            raise TrainerNotFound(f"{p} does not exist; {INSTALL_HINT}")
        if p.stem.lower() == "texgan":
            return [[str(p)]]
        return [[str(p), "-m", "texgan.cli"]]
    exe = shutil.which("texgan", path=path_env if path_env is not None else os.environ.get("PATH"))
    if exe is None:
        raise TrainerNotFound(f"no texgan on PATH and no Python interpreter set in the preferences; {INSTALL_HINT}")
    return [[exe]]


def _last_line(text: str) -> str:
    """The line a user should read: texgan's own one-line error if there is one, else the last line."""
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith(ERROR_PREFIX):
            return ln
    return lines[-1] if lines else ""


def probe(command: list, timeout: float = PROBE_TIMEOUT_S) -> Installation:
    """Run `<command> doctor --json` and read what it reports."""
    try:
        r = subprocess.run([*command, "doctor", "--json"], capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=NEUTRAL_CWD)
    except FileNotFoundError:
        raise TrainerNotFound(f"{command[0]} cannot be run; {INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise TrainerNotFound(f"`{' '.join(command)} doctor` did not answer within {timeout:.0f} s") from None
    report = None
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                pass
            break
    if report is None:
        why = _last_line(r.stderr) or f"exit status {r.returncode}"
        if "No module named" in why:
            raise TrainerNotFound(f"texgan is not installed for {command[0]} ({why}); {INSTALL_HINT}")
        if "invalid choice: 'doctor'" in why:
            raise TrainerNotFound(f"the texgan at {command[0]} is too old (no `texgan doctor`); update it")
        raise TrainerNotFound(f"{' '.join(command)} doctor failed: {why}")
    if not report.get("ok"):
        raise TrainerNotFound(f"{report.get('reason', 'texgan cannot train here')}; {INSTALL_HINT}")
    return Installation(list(command), report["texgan_version"], report["torch_version"], report["device"],
                        report.get("device_name", ""), report.get("python", ""))


def find_installation(python: str | None = None, path_env: str | None = None) -> Installation:
    """The texgan installation training will use, or TrainerNotFound with a one-line reason."""
    errors = []
    for cmd in candidate_commands(python, path_env):
        try:
            return probe(cmd)
        except TrainerNotFound as e:
            errors.append(str(e))
    raise TrainerNotFound(errors[-1])


# --- quality presets ------------------------------------------------------------------------

# The panel's quality menu -> `texgan train` flags. Kept here, in one place, so the presets can be
# retuned when the trainer's defaults change; only flags `texgan train --help` lists. Crop size is
# what matters most: structure larger than the crop comes out as blobs, and larger crops cost time.
QUALITY_PRESETS = {
    "DRAFT": ("Draft", "Small crops: fastest, for fine-grained textures and quick tries",
              ["--size", "32"]),
    "STANDARD": ("Standard", "The trainer's defaults", []),
    "HIGH": ("High", "Large crops: room for larger structure (bricks, tiles); 4x the pixels of Standard per step",
             ["--size", "128"]),
}


def preset_args(preset: str) -> list:
    try:
        return list(QUALITY_PRESETS[preset][2])
    except KeyError:
        raise TrainerError(f"unknown quality preset {preset!r}; one of {', '.join(QUALITY_PRESETS)}") from None


# --- launching and stopping -----------------------------------------------------------------

@dataclasses.dataclass
class TrainJob:
    image: str
    run: str
    minutes: float = 0.0            # time budget of this invocation; 0 with steps None = until stopped
    steps: int | None = None        # None: the trainer's default, or until stopped when minutes is 0
    derive_maps: bool = False
    resume: bool = False
    # Preview and "Use Now" need samples and checkpoints often; both are cheap for these models.
    sample_every: int = 50
    checkpoint_every: int = 100
    extra_args: list = dataclasses.field(default_factory=list)   # e.g. a quality preset's --size/--batch
    label: str = ""                 # the name messages use (the model's); empty: the run folder's name

    @property
    def name(self) -> str:
        return self.label or Path(self.run).name

    def argv(self) -> list:
        a = ["train", str(Path(self.image).resolve()), "--out", str(Path(self.run).resolve()),
             "--sample-every", str(self.sample_every), "--checkpoint-every", str(self.checkpoint_every)]
        steps = self.steps if self.steps is not None else (UNTIL_STOPPED_STEPS if not self.minutes else None)
        if steps is not None:
            a += ["--steps", str(steps)]
        if self.minutes:
            a += ["--max-minutes", str(self.minutes)]
        if self.derive_maps:
            a.append("--derive-maps")
        if self.resume:
            a.append("--resume")
        return a + [str(x) for x in self.extra_args]


@dataclasses.dataclass
class JobResult:
    job: TrainJob
    returncode: int
    error: str | None                # the trainer's one-line error, None on success
    stopped: bool = False            # ended by stop() (the run is resumable)


def _parent_death_signal():
    """Linux: the trainer gets SIGTERM if the process that started it dies, even by SIGKILL
    (atexit cannot run then). PR_SET_PDEATHSIG follows the starting *thread*, so it is only
    used when starting from the main thread, which lives as long as Blender does."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def arm():
        libc.prctl(1, signal.SIGTERM)   # 1 = PR_SET_PDEATHSIG
    return arm


class Trainer:
    """One `texgan train` subprocess at a time; more jobs wait in a queue.

    Call poll() now and then (a Blender timer): it notices the end of the running job and
    starts the next. wait() does that in a loop, for scripts and background mode."""

    def __init__(self, installation: Installation):
        self.installation = installation
        self.current: TrainJob | None = None
        self.queue: list = []
        self.results: list = []
        self.started_at: float | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._stopping = False
        self._lock = threading.RLock()
        _LIVE.add(self)

    # state
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def submit(self, job: TrainJob) -> str:
        """Start job now, or queue it behind the running one. Returns the message to show."""
        with self._lock:
            self.poll()
            if any(Path(j.run) == Path(job.run) for j in ([self.current] if self.current else []) + self.queue):
                raise TrainerError(f"{job.run} is already being trained or queued")
            if self.current is not None:
                self.queue.append(job)
                return (f"queued '{job.name}': one training at a time, '{self.current.name}' is running"
                        f" ({len(self.queue)} waiting)")
            self._launch(job)
            return f"training '{job.name}' with {self.installation.describe()}"

    def resume(self, job: TrainJob) -> str:
        """Continue job's run from its checkpoint (or start it, when no checkpoint was written yet)."""
        has_ckpt = (Path(job.run) / "checkpoint.safetensors").is_file()
        return self.submit(dataclasses.replace(job, resume=has_ckpt))

    def _launch(self, job: TrainJob) -> None:
        run = Path(job.run)
        run.mkdir(parents=True, exist_ok=True)
        log = (run / TRAINER_LOG).open("ab")
        log.write(f"\n== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(job.argv())}\n".encode())
        log.flush()
        env = dict(os.environ, TQDM_MININTERVAL="5", PYTHONUNBUFFERED="1")   # a calm log file
        kwargs = {}
        if os.name == "posix":
            kwargs.update(start_new_session=True, preexec_fn=_parent_death_signal())
        else:
            kwargs.update(creationflags=subprocess.CREATE_NEW_PROCESS_GROUP)
        try:
            # stdout/stderr go to a file, never a pipe: an unread pipe fills up and stalls the trainer.
            self._proc = subprocess.Popen([*self.installation.command, *job.argv()], stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT, env=env, cwd=NEUTRAL_CWD,
                                          **kwargs)
        except OSError as e:
            log.close()
            raise TrainerError(f"cannot start {self.installation.command[0]}: {e}") from None
        self._log, self.current, self.started_at, self._stopping = log, job, time.time(), False

    def poll(self) -> JobResult | None:
        """If the running job has ended: record its result, start the next queued job, return the result."""
        with self._lock:
            if self._proc is None or self._proc.poll() is None:
                return None
            result = self._finish()
            self._next()
            return result

    def _next(self) -> None:
        if self.queue:
            nxt = self.queue.pop(0)
            try:
                self._launch(nxt)
            except TrainerError as e:
                self.results.append(JobResult(nxt, -1, str(e)))

    def _finish(self) -> JobResult:
        code = self._proc.returncode
        self._log.close()
        job, stopped = self.current, self._stopping
        error = None
        if code != 0 and not (stopped and code in (0, 130, -signal.SIGTERM)):
            error = _last_line(_tail(Path(job.run) / TRAINER_LOG)) or f"trainer exited with status {code}"
        result = JobResult(job, code, error, stopped)
        self.results.append(result)
        self._proc = self._log = self.current = self.started_at = None
        self._stopping = False
        return result

    def stop(self, wait: bool = True, timeout: float = STOP_TIMEOUT_S) -> JobResult | None:
        """Ask the running trainer to stop: one SIGTERM (a second one would abort it without a
        checkpoint). With wait, block until it has checkpointed and exited, killing it after
        timeout. Then the next queued job starts (cancel_queue() first to drop them)."""
        with self._lock:
            if not self.running:
                return self.poll()
            self._stopping = True
            _signal_group(self._proc, signal.SIGTERM)
            if not wait:
                return None
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self._proc, signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
                self._proc.wait()
            result = self._finish()
            self._next()
            return result

    def cancel_queue(self) -> list:
        with self._lock:
            dropped, self.queue = self.queue, []
            return dropped

    def wait(self, poll_s: float = 0.5, timeout: float | None = None) -> list:
        """Run the queue to its end (headless use); returns the results of this call's jobs."""
        first = len(self.results)
        end = None if timeout is None else time.time() + timeout
        while self.current is not None:
            if self.poll() is None:
                if end is not None and time.time() > end:
                    raise TrainerError(f"training did not finish within {timeout:.0f} s")
                time.sleep(poll_s)
        return self.results[first:]

    def progress(self) -> Progress | None:
        job = self.current
        return read_progress(job.run, self.started_at) if job else None

    def shutdown(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Leave nothing running: drop the queue, stop the trainer (checkpointing), kill if need be.
        Runs at interpreter exit; the extension also calls it on unregister and on loading a file."""
        self.cancel_queue()
        try:
            self.stop(wait=True, timeout=timeout)
        finally:
            if self._proc is not None and self._proc.poll() is None:
                _signal_group(self._proc, signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
        _LIVE.discard(self)


def _signal_group(proc: subprocess.Popen, sig) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, sig)   # the trainer and anything it started (--nproc workers)
        elif sig == signal.SIGTERM:
            proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _tail(path: Path, size: int = 16384) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(path.stat().st_size - size, 0))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


_LIVE: set = set()


@atexit.register
def _shutdown_all() -> None:
    for t in list(_LIVE):
        try:
            t.shutdown(timeout=20)
        except Exception:   # exiting: keep going for the others
            pass


# --- exporting into a library ---------------------------------------------------------------

def model_file_name(name: str) -> str:
    """A model name -> a safe file name in a library folder."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._") or "model"
    return stem + ".onnx"


def export_run(installation: Installation, run: str | Path, library: str | Path, name: str | None = None,
               replace: bool = True, timeout: float = 600) -> Path:
    """`texgan export` the run's current checkpoint (finished or part-way: "Use Now") into the
    library folder as <name>.onnx; replace overwrites an earlier export of the same name
    (texgan export writes the new file completely before it replaces the old one)."""
    run, library = Path(run).resolve(), Path(library).resolve()
    name = name or run.name
    if not (run / "checkpoint.safetensors").is_file():
        raise TrainerError(f"{run} has no checkpoint yet; train a little longer before using it")
    library.mkdir(parents=True, exist_ok=True)
    out = library / model_file_name(name)
    argv = [*installation.command, "export", str(run), "--out", str(out), "--name", name]
    if replace:
        argv.append("--force")
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           cwd=NEUTRAL_CWD)
    except subprocess.TimeoutExpired:
        raise TrainerError(f"texgan export did not finish within {timeout:.0f} s") from None
    if r.returncode != 0:
        raise TrainerError(_last_line(r.stderr) or f"texgan export failed with status {r.returncode}")
    return out
