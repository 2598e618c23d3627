"""The bake command line, shared by `texgan bake` and `blender -b -P <addon>/bake/__main__.py -- ...`."""
from __future__ import annotations

import sys

from .recipe import BakeError, RecipeError
from .run import run_bake


def build_argparser(prog: str = "texgan bake"):
    import argparse
    p = argparse.ArgumentParser(prog=prog, description="Synthesise textures into many .blend files from a recipe.")
    add_arguments(p)
    return p


def add_arguments(p) -> None:
    p.add_argument("blends", nargs="*", metavar="SCENE.blend",
                   help=".blend files to bake (in a Blender binary: default the file Blender opened)")
    p.add_argument("--recipe", required=True, help="recipe TOML file (see docs/bake.md)")
    p.add_argument("--out", required=True, help="output folder for maps, baked maps, .blend files and report.json")
    p.add_argument("--shard", default="1/1", help="run shard i of N (1-based), e.g. 3/8; jobs split by sorted key")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="ONNX Runtime device (default: the recipe's 'device', else auto)")
    p.add_argument("--overwrite-source", action="store_true",
                   help="save each .blend over its source instead of into --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv=None) -> int:
    """Entry point inside a Blender binary (and `python -m addon.bake -- ...` with the bpy module)."""
    import bpy
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    args = build_argparser("blender -b [SCENE.blend] -P bake/__main__.py --").parse_args(argv)
    blends = list(args.blends) or ([bpy.data.filepath] if bpy.data.filepath else [])
    try:
        run_bake(blends, args.recipe, args.out, shard=args.shard, device=args.device,
                 progress=not args.no_progress, overwrite_source=args.overwrite_source)
    except (RecipeError, BakeError, ValueError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"texgan bake: error: {msg}", file=sys.stderr, flush=True)
        return 2
    return 0




def blender_argv(blends, recipe, out, shard="1/1", device=None, overwrite_source=False, progress=True) -> list:
    """The arguments that make main() in a Blender binary do what run_bake(...) does here; kept beside
    add_arguments so the two cannot drift apart."""
    argv = [*map(str, blends), "--recipe", str(recipe), "--out", str(out), "--shard", str(shard)]
    if device:
        argv += ["--device", device]
    if overwrite_source:
        argv.append("--overwrite-source")
    if not progress:
        argv.append("--no-progress")
    return argv
