"""The UI side of one generation, as a small object the modal operator calls (and a test can drive).

invoke -> :meth:`ModalDriver.start` (publish the job, timer, progress bar, worker thread);
each timer event -> :meth:`ModalDriver.tick` (progress and status text, or the end);
Esc -> :meth:`ModalDriver.modal` cancels; Blender ending the modal -> :meth:`ModalDriver.cancel`.

The end is either ``apply(context, job)`` (the operator's, main thread only) or, when Cancel or Esc was
pressed at any time, "nothing was changed": a cancel request wins even if the worker had just finished,
so the material is never touched after the user said no.

No ``import bpy`` here: everything Blender comes in through ``context`` (window manager, window,
workspace), so this module imports wherever the operator does (Blender 3.4 to 5.0 alike).
"""
from __future__ import annotations

from . import worker

CANCELLED_TEXT = "texgan: cancelled; nothing was changed"
TIMER_STEP_S = 0.1  # how often the progress is redrawn


class ModalDriver:
    """Runs ``job`` on its worker thread and turns timer ticks into progress, then applies or cancels.

    apply(context, job) -> set: the operator's apply step, called once, only for a job not cancelled.
    say(level, text): the operator's report (status bar and the panel's last line).
    state: the dict the panels and ``poll`` read ("job", "label", "driver"); set while the job runs.
    """

    def __init__(self, job: worker.Job, label: str, apply, say, state: dict):
        self.job, self.label = job, label
        self._apply, self._say, self._state = apply, say, state
        self._timer = None
        self.percent = 0      # the last progress shown, 0..100
        self.status = ""      # the last status-bar text shown while running
        self.result = None    # the operator's return set once finished

    # ---------------------------------------------------------------- entry points

    def start(self, context) -> set:
        self._state.update(job=self.job, label=self.label, driver=self)
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_STEP_S, window=context.window)
        wm.progress_begin(0, 100)
        self.job.start()
        return {'RUNNING_MODAL'}

    def modal(self, context, event) -> set:
        if event.type == 'ESC' and event.value == 'PRESS':
            self.job.cancel()
            return {'RUNNING_MODAL'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        return self.tick(context)

    def tick(self, context) -> set:
        """One timer event: show progress while the worker runs; at its end apply or say cancelled."""
        if self.result is not None:
            return self.result
        if not self.job.done.is_set():
            self.percent = round(self.job.progress * 100)
            self.status = f"texgan: generating {self.label} ... {self.percent}%  (Esc to cancel)"
            context.window_manager.progress_update(self.percent)
            if context.workspace is not None:
                context.workspace.status_text_set(self.status)
            _redraw(context)
            return {'PASS_THROUGH'}
        self._end(context)
        if self.job.cancelled or self.job.cancel_requested:
            worker.record_run(self.job)
            self._say('WARNING', CANCELLED_TEXT)
            self.result = {'CANCELLED'}
        else:
            self.result = self._apply(context, self.job)
        return self.result

    def cancel(self, context) -> None:
        """Blender ends the modal (file closed, window gone): stop the worker, change nothing."""
        self.job.cancel()
        self._end(context)

    # ---------------------------------------------------------------- helpers

    def _end(self, context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        if self._state.get("job") is self.job:
            self._state.update(job=None, driver=None)
        _redraw(context)


def _redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {'NODE_EDITOR', 'PROPERTIES', 'VIEW_3D', 'STATUSBAR'}:
                area.tag_redraw()
