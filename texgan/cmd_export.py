"""`texgan export`, `texgan inspect` and `texgan generate` (whose work is texgan/generate.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from addon.core.format import DEFAULT_SIZE, MAX_SIDE


def register(sub) -> None:
    p = sub.add_parser("export", help="export a run's generator to a self-describing, verified .onnx file",
                       description="Export the EMA generator of RUN to one .onnx file (dynamic batch and size, "
                                   "texgan metadata), after checking it with onnx.checker, ONNX Runtime parity "
                                   "with PyTorch and the roll test. Nothing is written if a check fails.")
    p.add_argument("run", help="run directory (or its checkpoint.safetensors)")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--fp16", action="store_true", help="float16 weights and compute (inputs/outputs stay float32)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset, 11 or newer (default 17)")
    p.add_argument("--name", help="model name stored in the metadata (default: the run folder's name)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--json", action="store_true", help="print the verification report as JSON")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("inspect", help="print a texgan .onnx model's metadata and signature as JSON")
    p.add_argument("model", help="a .onnx file made by texgan export")
    p.set_defaults(handler=cmd_inspect)

    p = sub.add_parser("generate", help="paint seamless textures of any size from a .onnx model (GPU or CPU)",
                       description="Paint tileable textures with ONNX Runtime. Material models write one file per "
                                   "map (base colour sRGB; height, roughness and normal as linear data).")
    p.add_argument("model", help="a .onnx file made by texgan export")
    p.add_argument("--out", required=True, help="output file, .png or .exr (maps get _basecolor, _height, ... suffixes)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE,
                   help=f"width in pixels, and height unless --height (default {DEFAULT_SIZE})")
    p.add_argument("--height", type=int, default=None, help="height in pixels (default: --size)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first texture (default 0); texture i uses seed+i")
    p.add_argument("--count", type=int, default=1, help="how many textures (default 1)")
    p.add_argument("--class", dest="class_", metavar="CLASS", default=None,
                   help="conditional models (required there): a class name or index, or a blend "
                        "such as bricks:0.5,moss:0.5 (texgan inspect lists the classes)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                   help="auto (CUDA when it works, else CPU), cuda (error if unavailable) or cpu")
    p.add_argument("--format", choices=["png", "exr"], default=None, help="default: from --out's extension")
    p.add_argument("--bit-depth", "--bits", dest="bit_depth", type=int, choices=[8, 16, 32], default=None,
                   help="PNG: 8 (default) or 16; EXR: 16 = half (default) or 32 = float")
    p.add_argument("--no-normal", action="store_true", help="do not derive a normal map from height")
    p.add_argument("--normal-strength", type=float, default=None,
                   help="depth in pixels of the full height range, for the normal map (default 4)")
    p.add_argument("--tile", type=int, default=None, help="tile side in pixels for tiled inference (default 512 on CPU, 1024 on CUDA)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for ONNX Runtime (default: all)")
    p.add_argument("--max-side", type=int, default=MAX_SIDE, help=f"largest accepted side in pixels (default {MAX_SIDE})")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(handler=cmd_generate)


# ------------------------------------------------------------------------------------------

def cmd_export(args) -> int:
    from export.onnx_export import export_run
    report = export_run(args.run, args.out, fp16=args.fp16, opset=args.opset, name=args.name, force=args.force)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_export_report(report)
    return 0


def print_export_report(report: dict) -> None:
    worst = max(p["max_abs_error"] for p in report["parity"])
    sizes = ", ".join("x".join(str(d) for d in p["latent"]) for p in report["parity"])
    print(f"texgan: exported '{report['name']}' ({report['precision']}, opset {report['opset']}, "
          f"{report['bytes'] / 1e6:.2f} MB) to {report['path']}")
    print(f"  checks passed: onnx.checker full; ORT parity max error {worst:.2g} (tolerance {report['tolerance']:g}) "
          f"at latents {sizes}; roll test error {report['roll_max_abs_error']:.2g}; receptive field "
          f"{report['receptive_radius_cells']['measured']} <= halo {report['receptive_radius_cells']['declared']} cells")


def cmd_inspect(args) -> int:
    from addon.core.model import read_metadata
    meta = read_metadata(args.model, with_signature=True)
    signature = meta.pop("signature")
    doc = {"path": str(args.model), "bytes": Path(args.model).stat().st_size, "metadata": meta, **signature}
    print(json.dumps(doc, indent=2))
    return 0


# ------------------------------------------------------------------------------------------

def cmd_generate(args) -> int:
    from .generate import GenerateRequest, generate_files
    request = GenerateRequest(
        model=args.model, out=Path(args.out).expanduser(), width=args.size, height=args.height, seed=args.seed,
        count=args.count, class_choice=args.class_, device=args.device, format=args.format, bit_depth=args.bit_depth,
        normal=not args.no_normal, normal_strength=args.normal_strength, tile=args.tile, threads=args.threads,
        max_side=args.max_side, force=args.force)
    result = generate_files(request, progress_bar=True)
    print(f"texgan: generated {args.count} texture(s) of {result.width}x{result.height} on {result.device} in "
          f"{result.seconds:.1f} s:", file=sys.stderr)
    for p in result.written:
        print(p)
    return 0
