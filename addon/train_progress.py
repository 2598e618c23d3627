"""What a training run folder says about itself, for the panel and scripts (stdlib only, no bpy).

read_progress(run) reads only files the trainer writes (config.json, log.csv, the checkpoint's
safetensors header, samples/tiled_*.png) and is safe against a half-written last log line or a
sample PNG still being written; describe() turns it into the panel's progress text.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import struct
import time
from pathlib import Path

UNTIL_STOPPED_STEPS = 10 ** 9   # "Train until stopped" is --steps this large, without --max-minutes


@dataclasses.dataclass
class Progress:
    step: int = 0
    total_steps: int | None = None  # None: until stopped (or no config yet)
    elapsed_s: float = 0.0          # training seconds over all invocations (log.csv "seconds")
    remaining_s: float | None = None
    last_row: dict | None = None    # the newest complete log.csv row, values as floats
    quality: float | None = None    # the newest measured swd_ratio (1.0 = as close as real crops are)
    sample: str | None = None       # newest complete samples/tiled_*.png
    checkpoint_step: int | None = None
    stopped_by: str | None = None   # how the last invocation ended: "steps", "time", "terminated", ...;
                                    # None while running or before the first checkpoint

    @property
    def resumable(self) -> bool:
        return self.checkpoint_step is not None


def _log_rows(log_csv: Path) -> list:
    """Complete rows of log.csv; a last line still being written (no newline yet, or cut short) is left out."""
    try:
        with log_csv.open(newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return []
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = []
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    for values in reader:
        if header is None or len(values) != len(header):
            continue
        try:  # an empty cell is a column not measured at that step (the quality probe runs every N steps)
            rows.append({k: float(v) for k, v in zip(header, values) if v != ""})
        except ValueError:
            continue
    return rows


def _png_complete(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.seek(-12, os.SEEK_END)
            return f.read(12)[4:8] == b"IEND"
    except OSError:
        return False


def newest_sample(run: Path, kind: str = "tiled") -> str | None:
    for p in sorted((Path(run) / "samples").glob(f"{kind}_*.png"), reverse=True):   # zero-padded step: name order
        if _png_complete(p):
            return str(p)
    return None


def checkpoint_info(run: Path) -> dict | None:
    """The JSON info of run/checkpoint.safetensors, read from the safetensors header (no torch)."""
    path = Path(run) / "checkpoint.safetensors"
    try:
        with path.open("rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        return json.loads(header["__metadata__"]["info"])
    except (OSError, struct.error, ValueError, KeyError, TypeError):
        return None


def _remaining(prog: Progress, rows: list, cfg: dict, running_since: float | None) -> float | None:
    estimates = []
    if prog.total_steps and len(rows) >= 2 and rows[-1]["seconds"] > rows[0]["seconds"]:
        recent = rows[-min(len(rows), 20):]   # recent rate: resumes and warm-up do not skew it
        rate = (recent[-1]["step"] - recent[0]["step"]) / max(recent[-1]["seconds"] - recent[0]["seconds"], 1e-9)
        if rate > 0:
            estimates.append(max(prog.total_steps - prog.step, 0) / rate)
    if running_since is not None and cfg.get("max_minutes"):
        estimates.append(max(cfg["max_minutes"] * 60 - (time.time() - running_since), 0.0))
    return min(estimates) if estimates else None


def read_progress(run: str | Path, running_since: float | None = None) -> Progress:
    """What a panel shows about a run folder. running_since: time.time() when this invocation
    started, if it is running; with a --max-minutes budget it bounds the remaining time."""
    run = Path(run)
    prog = Progress()
    try:
        cfg = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        cfg = {}
    rows = _log_rows(run / "log.csv")
    info = checkpoint_info(run)
    if info:
        prog.checkpoint_step = int(info["step"])
        # While running, a checkpoint can still say how the *previous* invocation ended.
        prog.stopped_by = None if running_since is not None else (info.get("stopped_by") or None)
    if rows:
        prog.last_row = rows[-1]
        prog.step, prog.elapsed_s = int(rows[-1]["step"]), rows[-1]["seconds"]
        prog.quality = next((r["swd_ratio"] for r in reversed(rows) if "swd_ratio" in r), None)
    elif info:
        prog.step, prog.elapsed_s = prog.checkpoint_step, float(info.get("seconds", 0.0))
    steps = int(cfg.get("steps", 0))
    prog.total_steps = steps if 0 < steps < UNTIL_STOPPED_STEPS else None
    prog.sample = newest_sample(run)
    prog.remaining_s = 0.0 if prog.stopped_by else _remaining(prog, rows, cfg, running_since)
    return prog


def clock(seconds: float | None) -> str:
    """73.4 -> '1:13', 3725 -> '1:02:05'."""
    if seconds is None:
        return "?"
    s = int(round(max(seconds, 0.0)))
    h, m = divmod(s, 3600)
    return f"{h}:{m // 60:02d}:{m % 60:02d}" if h else f"{m // 60}:{m % 60:02d}"


def describe(prog: Progress, running: bool) -> list:
    """The panel's progress lines: step/total, elapsed/remaining, the quality figure, the state."""
    total = f"/{prog.total_steps}" if prog.total_steps else (" (until stopped)" if running else "")
    lines = [f"Step {prog.step}{total}"]
    timing = f"{clock(prog.elapsed_s)} trained"
    if running and prog.remaining_s is not None:
        timing += f", {clock(prog.remaining_s)} left"
    lines.append(timing)
    if prog.quality is not None:
        lines.append(f"Quality (SWD ratio, 1 = like the photo): {prog.quality:.2f}")
    if not running:
        if prog.stopped_by in (None, "steps", "time"):
            state = "finished" if prog.stopped_by else "not started"
        else:
            state = f"stopped ({prog.stopped_by})"
        if prog.resumable:
            state += f", checkpoint at step {prog.checkpoint_step}"
        lines.append(state[0].upper() + state[1:])
    return lines
