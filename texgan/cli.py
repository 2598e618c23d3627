"""`texgan` — one entry point, one subcommand per job.

Each area registers its subcommands from its own module (cmd_*.py) so they
stay small; heavy imports (torch, onnxruntime, bpy) happen inside handlers so
`texgan --help` is instant. A user error prints one line and exits 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__

# Modules that add subcommands: each has register(subparsers).
COMMAND_MODULES = ["texgan.cmd_train", "texgan.cmd_export", "texgan.cmd_addon", "texgan.cmd_bake", "texgan.cmd_doctor",
                   "texgan.demo"]


def build_parser() -> argparse.ArgumentParser:
    import importlib
    parser = argparse.ArgumentParser(prog="texgan", description="Seamless texture GANs: train, export to ONNX, generate, bake.")
    parser.add_argument("--version", action="version", version=f"texgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that area is not built in this checkout
                continue
            raise
        module.register(sub)
    return parser


class UserError(Exception):
    """Anything the user can fix: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("texgan: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, OSError) as e:
        if os.environ.get("TEXGAN_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, OSError) and e.filename and str(e.filename) not in msg:
            msg = f"{msg}: {e.filename}"
        print(f"texgan: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
