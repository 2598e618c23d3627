"""`texgan bake`: headless batch texture synthesis (and optional Cycles bakes) into .blend files.

The work itself is the ``addon/bake`` package (:func:`addon.bake.run_bake`), which runs inside
Blender's Python: here through the ``bpy`` module, or with ``--blender PATH`` through a Blender binary
(``blender -b -P addon/bake/__main__.py -- ...``). Same code, same outputs.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "bake", help="synthesise textures into many .blend files from a recipe (headless)",
        description="For every object/material a recipe matches: synthesise maps with its model, wire them into "
                    "the material with the Blender extension's own code, save the maps and a new .blend into "
                    "--out, optionally Cycles-bake base colour/normal/roughness onto each object's UVs. "
                    "Re-running skips finished work; --shard i/N splits the jobs over N machines. "
                    "See docs/bake.md.")
    from addon.bake import add_arguments
    add_arguments(p)
    p.add_argument("--blender", default=None, metavar="PATH",
                   help="run inside this Blender binary (blender -b -P addon/bake/__main__.py) instead of the bpy module")
    p.set_defaults(handler=cmd_bake)


def blender_command(blender: str, args) -> list:
    from addon.bake import blender_argv
    script = Path(__file__).resolve().parents[1] / "addon" / "bake" / "__main__.py"
    return [blender, "-b", "--python-exit-code", "2", "-P", str(script), "--",
            *blender_argv(**_bake_options(args))]


def _bake_options(args) -> dict:
    """The parsed flags as run_bake's keyword arguments (the one mapping of flags to the function)."""
    return dict(blends=args.blends, recipe=args.recipe, out=args.out, shard=args.shard, device=args.device,
                overwrite_source=args.overwrite_source, progress=not args.no_progress)


def cmd_bake(args) -> int:
    if args.blender:
        if not args.blends:
            raise ValueError("give the .blend files to bake")
        return subprocess.call(blender_command(args.blender, args))
    if not args.blends:
        raise ValueError("give the .blend files to bake")
    try:
        import bpy  # noqa: F401  (the Blender-as-a-module wheel)
    except ImportError:
        raise ValueError("texgan bake needs the bpy module (pip install 'texgan[blender]', Python 3.11) "
                         "or a Blender binary: --blender /path/to/blender") from None
    from addon.bake import run_bake
    opts = _bake_options(args)
    report = run_bake(opts.pop("blends"), opts.pop("recipe"), opts.pop("out"), **opts)
    n = len(report["outputs"])
    state = "complete" if report["complete"] else f"{len(report['pending'])} jobs left for other shards"
    print(f"texgan bake: {n} outputs in {os.path.join(args.out, 'report.json')} ({state}, "
          f"{report['seconds']:.1f} s)", file=sys.stderr)
    return 0
