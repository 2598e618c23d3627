"""`texgan export`, `texgan inspect` and `texgan generate`.

generate writes one file per map. With --out tex.png:
  * an RGB-only model           -> tex.png
  * a material model            -> tex_basecolor.png, tex_height.png, tex_roughness.png, ...,
                                   plus tex_normal.png (from height) unless --no-normal
  * --count N (N > 1)           -> tex_seed<S>.png or tex_seed<S>_basecolor.png, ... for S = seed .. seed+N-1
These names are what `texgan train` reads back as a material folder. Existing files are never
overwritten without --force, and each texture's maps appear together or not at all.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from addon.core.files import FORMATS
from addon.core.format import MAX_SIDE

SHOW_PROGRESS_PIXELS = 2048 * 2048


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
    p.add_argument("--size", type=int, default=1024, help="width in pixels, and height unless --height (default 1024)")
    p.add_argument("--height", type=int, default=None, help="height in pixels (default: --size)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first texture (default 0); texture i uses seed+i")
    p.add_argument("--count", type=int, default=1, help="how many textures (default 1)")
    p.add_argument("--class", dest="class_", metavar="CLASS", default=None,
                   help="conditional models (required there): a class name or index, or a blend "
                        "such as bricks:0.5,moss:0.5 (texgan inspect lists the classes)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                   help="auto (CUDA when it works, else CPU), cuda (error if unavailable) or cpu")
    p.add_argument("--format", choices=["png", "exr"], default=None, help="default: from --out's extension")
    p.add_argument("--bits", type=int, choices=[8, 16, 32], default=None,
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
    worst = max(p["max_abs_error"] for p in report["parity"])
    sizes = ", ".join("x".join(str(d) for d in p["latent"]) for p in report["parity"])
    print(f"texgan: exported '{report['name']}' ({report['precision']}, opset {report['opset']}, "
          f"{report['bytes'] / 1e6:.2f} MB) to {report['path']}")
    print(f"  checks passed: onnx.checker full; ORT parity max error {worst:.2g} (tolerance {report['tolerance']:g}) "
          f"at latents {sizes}; roll test error {report['roll_max_abs_error']:.2g}; receptive field "
          f"{report['receptive_radius_cells']['measured']} <= halo {report['receptive_radius_cells']['declared']} cells")
    return 0


def cmd_inspect(args) -> int:
    from addon.core.model import read_metadata
    meta = read_metadata(args.model, with_signature=True)
    signature = meta.pop("signature")
    doc = {"path": str(args.model), "bytes": Path(args.model).stat().st_size, "metadata": meta, **signature}
    print(json.dumps(doc, indent=2))
    return 0


# ------------------------------------------------------------------------------------------

def map_file_name(name: str) -> str:
    return "basecolor" if name == "base_color" else name


def output_paths(out: Path, map_names: list[str], seeds: list[int]) -> dict[int, dict[str, Path]]:
    """{seed: {map name: path}} following the naming rules in this module's docstring."""
    stem, suffix = out.name[: -len(out.suffix)] if out.suffix else out.name, out.suffix
    single = map_names == ["base_color"]
    paths = {}
    for seed in seeds:
        base = stem if len(seeds) == 1 else f"{stem}_seed{seed}"
        paths[seed] = {m: out.with_name(base + suffix if single else f"{base}_{map_file_name(m)}{suffix}")
                       for m in map_names}
    return paths


def _resolve_format(out: Path, fmt: str | None, bits: int | None) -> tuple[str, int]:
    ext = out.suffix.lower()
    if fmt is None:
        if ext not in FORMATS:
            raise ValueError(f"--out {out} should end in .png or .exr (or pass --format)")
        fmt = FORMATS[ext]
    elif ext in FORMATS and FORMATS[ext] != fmt:
        raise ValueError(f"--out ends in {out.suffix} but --format is {fmt}")
    elif ext not in FORMATS:
        raise ValueError(f"--out {out} should end in .{fmt}")
    if bits is None:
        bits = 8 if fmt == "png" else 16
    if fmt == "png" and bits not in (8, 16):
        raise ValueError(f"PNG files hold 8 or 16 bits per channel, not {bits}")
    if fmt == "exr" and bits not in (16, 32):
        raise ValueError(f"EXR files hold 16 (half) or 32 (float) bits per channel, not {bits}")
    return fmt, bits


def cmd_generate(args) -> int:
    import numpy as np

    from addon.core.classes import resolve_class
    from addon.core.files import AtomicFiles
    from addon.core.latent import check_seed
    from addon.core.maps import DEFAULT_NORMAL_STRENGTH
    from addon.core.model import TextureModel
    from addon.core.paint import PaintSettings, color_maps, encode_maps, paint

    out = Path(args.out).expanduser()
    fmt, bits = _resolve_format(out, args.format, args.bits)
    width = args.size
    height = args.height if args.height is not None else args.size
    for label, v in (("--size", width), ("--height", height)):
        if v < 1:
            raise ValueError(f"{label} must be at least 1 pixel, got {v}")
        if v > args.max_side:
            raise ValueError(f"{label} {v} is larger than the limit of {args.max_side} pixels per side (--max-side)")
    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    check_seed(args.seed)
    check_seed(args.seed + args.count - 1)
    strength = DEFAULT_NORMAL_STRENGTH if args.normal_strength is None else args.normal_strength
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"--normal-strength must be a number >= 0, got {strength}")
    if args.tile is not None and args.tile < 1:
        raise ValueError(f"--tile must be at least 1 pixel, got {args.tile}")
    if not out.parent.exists():
        raise ValueError(f"output folder {out.parent} does not exist")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: {out.parent} is not a folder")

    model = TextureModel(args.model, device=args.device, threads=args.threads)
    class_row, _ = resolve_class(model.classes, args.class_, f"model '{model.name}'")
    layout = {m["name"]: m for m in model.maps}
    names = list(layout)
    with_normal = "height" in layout and not args.no_normal
    if with_normal:
        names.append("normal")
    seeds = list(range(args.seed, args.seed + args.count))
    paths = output_paths(out, names, seeds)
    for seed in seeds:  # refuse before any work, not after painting half the set
        for p in paths[seed].values():
            if p.exists() and not args.force:
                raise FileExistsError(f"{p} already exists; pass --force to overwrite it")

    note = f" (CUDA not used: {model.fallback_reason})" if model.fallback_reason else ""
    print(f"texgan: model '{model.name}' on {model.device} [{', '.join(model.providers)}]{note}", file=sys.stderr)

    # Integer codes keep big textures small; 16-bit codes when a normal map is derived from height.
    if fmt == "png":
        dtype = np.uint16 if bits == 16 or with_normal else np.uint8
    else:
        dtype = np.float16 if bits == 16 else np.float32
    settings = PaintSettings(width, height, class_choice=class_row, tile=args.tile, dtype=dtype, normal=with_normal,
                             normal_strength=strength, lazy_normal=True, max_side=args.max_side,
                             normal_dtype={8: np.uint8, 16: np.uint16}[bits] if fmt == "png" else dtype)
    colors = color_maps(model)

    show = width * height * args.count >= SHOW_PROGRESS_PIXELS or args.count >= 4
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=args.count, desc=f"texgan generate {width}x{height} x{args.count}", leave=False,
                   bar_format="{l_bar}{bar}| [{elapsed}<{remaining}]", file=sys.stderr)
    t0 = time.time()
    written = []
    try:
        for k, seed in enumerate(seeds):
            targets = paths[seed]
            with AtomicFiles(targets.values(), force=args.force) as files:  # reserved before the slow part
                def progress(f, k=k):
                    if bar is not None:
                        bar.update(k + f - bar.n)  # tqdm throttles the redraws
                painting = paint(model, dataclasses.replace(settings, seed=seed), progress=progress)
                encode_maps(files, targets, painting.maps(0), fmt, bits, colors)
            written += list(targets.values())
    finally:
        if bar is not None:
            bar.close()
    seconds = time.time() - t0
    print(f"texgan: generated {args.count} texture(s) of {width}x{height} on {model.device} in {seconds:.1f} s:",
          file=sys.stderr)
    for p in written:
        print(p)
    return 0
