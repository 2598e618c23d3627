"""The extension's training controller, one per Blender session (stdlib only, no bpy).

It ties trainer_client together the way the panel and ``bpy.ops.texgan.train`` use it: find the
texgan installation (off the main thread in the UI), start or queue a run, notice its end, export
it into the model library (off the main thread in the UI, in line in background mode) and hand
"exported" events to the Blender side, which refreshes the library and selects the new model.
Blender calls tick() from a timer; background mode calls the same steps synchronously.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
from pathlib import Path

from . import trainer_client as tc
from .train_progress import Progress, describe, read_progress


@dataclasses.dataclass
class Exported:
    name: str
    path: str      # the .onnx file in the library


def run_folder(runs_root: str | Path, name: str) -> Path:
    """A run folder for a new training of `name`: runs_root/<name>, or <name>-2, ... when that one
    already holds a run (the trainer refuses to start over an existing checkpoint)."""
    stem = tc.model_file_name(name)[: -len(".onnx")]
    root = Path(runs_root)
    for i in range(1, 10000):
        run = root / (stem if i == 1 else f"{stem}-{i}")
        if not (run / "checkpoint.safetensors").exists():
            return run
    raise tc.TrainerError(f"too many runs named {stem} in {root}")


class TrainSession:
    def __init__(self):
        self.installation: tc.Installation | None = None
        self._install_key: str | None = None
        self.check = {"state": "unchecked", "line": ""}   # what the preferences show
        self.trainer: tc.Trainer | None = None
        self.active: tc.TrainJob | None = None             # the run the panel shows
        self.models: dict = {}                              # run path -> (model name, library folder)
        self.message = ("INFO", "")
        self.progress: Progress | None = None               # refreshed by tick()
        self.pending = None                                 # (job, name, library) waiting for the check
        self._seen = 0                                      # trainer.results already handled
        self._exports: queue.Queue = queue.Queue()
        self.exporting = 0

    # ---------------------------------------------------------------- the installation

    def find(self, python: str = "") -> tc.Installation:
        """The installation for the preferences' setting (cached); blocks for seconds the first time."""
        key = python or ""
        if self.installation is not None and self._install_key == key:
            return self.installation
        self.check = {"state": "checking", "line": "looking for texgan ..."}
        try:
            inst = tc.find_installation(python or None)
        except tc.TrainerNotFound as e:
            self.installation, self._install_key = None, None
            self.check = {"state": "error", "line": str(e)}
            raise
        self.installation, self._install_key = inst, key
        self.check = {"state": "ok", "line": f"{inst.describe()}: {' '.join(inst.command)}"}
        return inst

    def check_async(self, python: str = "") -> None:
        """find() on a thread (it imports torch in a subprocess); the preferences poll self.check."""
        self.installation, self._install_key = None, None
        self.check = {"state": "checking", "line": "looking for texgan ..."}

        def run():
            try:
                self.find(python)
            except tc.TrainerError:
                pass   # self.check holds the reason
        threading.Thread(target=run, name="texgan-find", daemon=True).start()

    # ---------------------------------------------------------------- training

    def _trainer(self, inst: tc.Installation) -> tc.Trainer:
        if self.trainer is not None and self.trainer.installation is not inst and self.trainer.current is None:
            self.trainer.shutdown()
            self.trainer = None
        if self.trainer is None:
            self.trainer, self._seen = tc.Trainer(inst), 0
        return self.trainer

    def start(self, job: tc.TrainJob, name: str, library: str, python: str = "", wait_for_check: bool = True) -> str:
        """Start (or queue) job; its model will be exported as `name` into `library`. Without a known
        installation and wait_for_check False, the job waits for check_async() and tick() starts it."""
        if self.installation is None or self._install_key != (python or ""):
            if not wait_for_check:
                self.pending = (job, name, library)
                if self.check["state"] != "checking":
                    self.check_async(python)
                return self._say("INFO", f"looking for texgan before training '{name}' ...")
            self.find(python)
        trainer = self._trainer(self.installation)
        msg = trainer.submit(job)
        self.models[str(Path(job.run))] = (name, library)
        self.active = job
        self.progress = read_progress(job.run, trainer.started_at if self.is_current(job) else None)
        return self._say("INFO", msg)

    def resume(self) -> str:
        job = self._need_active()
        if self.installation is None:
            raise tc.TrainerError("texgan is not found yet: Check it in the preferences first")
        if self.is_current(job):
            raise tc.TrainerError(f"'{self.name_of(job)}' is still training")
        return self._say("INFO", self._trainer(self.installation).resume(job))

    def stop(self, wait: bool = False) -> str:
        if not self.running:
            raise tc.TrainerError("nothing is training")
        name = self.name_of(self.trainer.current)
        self.trainer.stop(wait=wait)
        if wait:
            self.tick(export_in_thread=False)
            return self.message[1]
        return self._say("INFO", f"stopping '{name}': it finishes its step and writes a checkpoint ...")

    def use_now(self, in_thread: bool) -> str:
        """Export the active run's newest checkpoint (part-way or finished) into its library."""
        job = self._need_active()
        if not (Path(job.run) / "checkpoint.safetensors").is_file():
            raise tc.TrainerError(f"'{self.name_of(job)}' has no checkpoint yet; train a little longer")
        self._export(job, in_thread)
        return self.message[1]

    @property
    def running(self) -> bool:
        return self.trainer is not None and self.trainer.current is not None

    def is_current(self, job: tc.TrainJob | None) -> bool:
        return job is not None and self.running and Path(self.trainer.current.run) == Path(job.run)

    def name_of(self, job: tc.TrainJob) -> str:
        return self.models.get(str(Path(job.run)), (job.name, ""))[0]

    def _need_active(self) -> tc.TrainJob:
        if self.active is None:
            raise tc.TrainerError("no training run yet: start one with Train")
        return self.active

    def _say(self, level: str, text: str) -> str:
        self.message = (level, text)
        return text

    # ---------------------------------------------------------------- the timer's work

    def tick(self, export_in_thread: bool = True) -> list:
        """Notice ended runs and finished exports; returns the Exported events since the last call."""
        if self.pending is not None and self.check["state"] != "checking":
            job, name, library = self.pending
            self.pending = None
            if self.check["state"] == "ok":
                try:
                    self.start(job, name, library, self._install_key or "")
                except tc.TrainerError as e:
                    self._say("ERROR", str(e))
            else:
                self._say("ERROR", self.check["line"])
        if self.trainer is not None:
            self.trainer.poll()
            for result in self.trainer.results[self._seen:]:
                self._ended(result, export_in_thread)
            self._seen = len(self.trainer.results)
        job = self.active
        if self.running and not self.is_current(job) and not self._queued(job):
            job = self.active = self.trainer.current   # the shown run ended; show the one the queue started
        if job is not None:
            current = self.is_current(job)
            self.progress = read_progress(job.run, self.trainer.started_at if current else None)
        events = []
        while True:
            try:
                item = self._exports.get_nowait()
            except queue.Empty:
                break
            self.exporting -= 1
            if isinstance(item, Exported):
                events.append(item)
                self._say("INFO", f"'{item.name}' is in the library ({item.path})")
            else:
                self._say("ERROR", item)
        return events

    def _ended(self, result: tc.JobResult, export_in_thread: bool) -> None:
        name = self.name_of(result.job)
        if result.error:
            self._say("ERROR", result.error)
        elif result.stopped:
            step = read_progress(result.job.run).checkpoint_step
            self._say("INFO", f"stopped '{name}' at step {step}: Resume continues it, Use Now exports it")
        else:
            self._export(result.job, export_in_thread)

    def _export(self, job: tc.TrainJob, in_thread: bool) -> None:
        name, library = self.models.get(str(Path(job.run)), (job.name, ""))
        inst = self.installation or (self.trainer.installation if self.trainer else None)
        if inst is None or not library:
            self._say("ERROR", f"cannot export '{name}': no texgan installation or library folder known")
            return

        def run():
            try:
                path = tc.export_run(inst, job.run, library, name=name)
                self._exports.put(Exported(name, str(path)))
            except tc.TrainerError as e:
                self._exports.put(str(e))
        self.exporting += 1
        self._say("INFO", f"exporting '{name}' into {library} ...")
        if in_thread:
            threading.Thread(target=run, name="texgan-export", daemon=True).start()
        else:
            run()

    def wait(self, timeout: float | None = None) -> list:
        """Background mode: run the trainer's queue to its end, export, return the Exported events."""
        if self.trainer is not None:
            self.trainer.wait(timeout=timeout)
        return self.tick(export_in_thread=False)

    def _queued(self, job: tc.TrainJob | None) -> bool:
        return job is not None and self.trainer is not None and any(Path(q.run) == Path(job.run)
                                                                    for q in self.trainer.queue)

    def lines(self) -> list:
        """The panel's progress text for the active run."""
        job = self.active
        if job is None or self.progress is None:
            return []
        if self._queued(job):
            return ["Queued: one training at a time"]
        return describe(self.progress, self.is_current(job))

    def shutdown(self) -> None:
        """Leave no trainer running (unregister, loading another file)."""
        self.pending = None
        if self.trainer is not None:
            self.trainer.shutdown()
            self.trainer = None


SESSION = TrainSession()
