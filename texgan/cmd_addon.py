"""`texgan addon build`: installable Blender extension zips, checked by Blender's own validator."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("addon", help="the Blender extension: build installable zips")
    addon_sub = p.add_subparsers(dest="addon_command", metavar="ACTION", required=True)
    b = addon_sub.add_parser(
        "build", help="build one extension zip per platform (ONNX Runtime wheels bundled) and validate it",
        description="Build texgan-<version>-<platform>.zip for each platform, bundling ONNX Runtime "
                    "(onnxruntime-gpu on Linux/Windows x64, onnxruntime on macOS) through the manifest, "
                    "and check each zip with Blender's own extension validator. Install a zip in Blender "
                    "with Edit > Preferences > Get Extensions > Install from Disk.")
    b.add_argument("--out", default="dist", help="output folder for the zips (default ./dist)")
    b.add_argument("--platform", action="append", dest="platforms", metavar="PLATFORM",
                   help="linux-x64, windows-x64, macos-arm64, macos-x64 or all; repeat for several "
                        "(default: linux-x64, windows-x64, macos-arm64)")
    b.add_argument("--wheel-cache", default=None, help="where downloaded wheels are kept (default build/wheels)")
    b.add_argument("--offline", action="store_true", help="use cached wheels only; never run pip download")
    b.add_argument("--blender-ext", default=None, help="path to Blender's blender_ext.py (default: from the bpy module)")
    b.set_defaults(handler=cmd_addon_build)


def cmd_addon_build(args) -> int:
    from .addon_build import DEFAULT_CACHE, build
    zips = build(Path(args.out), platforms=args.platforms,
                 cache=Path(args.wheel_cache) if args.wheel_cache else DEFAULT_CACHE,
                 blender_ext=Path(args.blender_ext) if args.blender_ext else None, download=not args.offline)
    for z in zips:
        print(f"texgan addon build: {z}  ({z.stat().st_size / 2**20:.1f} MiB, validated by Blender)")
    return 0
