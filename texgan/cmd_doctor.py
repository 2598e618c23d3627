"""`texgan doctor`: what this installation would train with (texgan, torch, device).

The Blender extension cannot import torch, so it runs `texgan doctor --json` in a subprocess of
the installation it found and shows the answer in its preferences (addon/trainer_client.py).
"""
from __future__ import annotations

import json
import platform
import sys


def register(sub) -> None:
    p = sub.add_parser("doctor", help="show the texgan and torch versions and the device training would use")
    p.add_argument("--json", action="store_true", help="print one JSON object (for tools)")
    p.set_defaults(handler=cmd_doctor)


def report() -> dict:
    from gan_core import __version__
    out = {"texgan_version": __version__, "python": sys.executable, "python_version": platform.python_version()}
    try:
        import torch
    except ImportError as e:   # texgan without torch cannot train: say so, do not crash
        out.update(ok=False, reason=f"torch is not installed in {sys.executable} ({e})")
        return out
    from gan_core.train import pick_device
    device = pick_device("auto")   # what `texgan train --device auto` picks
    if device.type == "cuda":
        name = torch.cuda.get_device_name(0)
    else:
        name = platform.processor() or platform.machine() or "CPU"
    out.update(ok=True, torch_version=torch.__version__, device=device.type, device_name=name,
               cuda_available=torch.cuda.is_available(), cpu_threads=torch.get_num_threads())
    return out


def cmd_doctor(args) -> int:
    r = report()
    if args.json:
        print(json.dumps(r))
    else:
        for k, v in r.items():
            print(f"{k}: {v}")
    return 0 if r.get("ok") else 1
