"""`texgan generate` as a function: paint textures with a model and write one file per map.

With out = tex.png:
  * an RGB-only model           -> tex.png
  * a material model            -> tex_basecolor.png, tex_height.png, tex_roughness.png, ...,
                                   plus tex_normal.png (from height) unless normal=False
  * count N (N > 1)             -> tex_seed<S>.png or tex_seed<S>_basecolor.png, ... for S = seed .. seed+N-1
These names are what `texgan train` reads back as a material folder. Existing files are never
overwritten without force, and each texture's maps appear together or not at all. The CLI and
`texgan demo` call generate_files(); the painting itself is addon.core.paint.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from addon.core.files import FORMATS
from addon.core.format import DEFAULT_SIZE, MAX_SIDE

SHOW_PROGRESS_PIXELS = 2048 * 2048


@dataclasses.dataclass
class GenerateRequest:
    """The settings of `texgan generate` (flag --x-y is field x_y; --class is class_choice)."""
    model: str
    out: Path
    width: int = DEFAULT_SIZE
    height: int | None = None        # None: width
    seed: int = 0
    count: int = 1
    class_choice: str | None = None
    device: str = "auto"
    format: str | None = None        # None: from out's extension
    bit_depth: int | None = None     # None: 8 for PNG, 16 (half) for EXR
    normal: bool = True
    normal_strength: float | None = None
    tile: int | None = None
    threads: int | None = None
    max_side: int = MAX_SIDE
    force: bool = False


@dataclasses.dataclass
class GenerateResult:
    written: list
    width: int
    height: int
    device: str
    seconds: float
    model: object
    maps: dict | None = None         # the last texture's maps, when keep_maps


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


def resolve_format(out: Path, fmt: str | None, bits: int | None) -> tuple[str, int]:
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


def _check(req: GenerateRequest, width: int, height: int) -> float:
    import numpy as np

    from addon.core.latent import check_seed
    from addon.core.maps import DEFAULT_NORMAL_STRENGTH
    for label, v in (("--size", width), ("--height", height)):
        if v < 1:
            raise ValueError(f"{label} must be at least 1 pixel, got {v}")
        if v > req.max_side:
            raise ValueError(f"{label} {v} is larger than the limit of {req.max_side} pixels per side (--max-side)")
    if req.count < 1:
        raise ValueError(f"--count must be at least 1, got {req.count}")
    check_seed(req.seed)
    check_seed(req.seed + req.count - 1)
    strength = DEFAULT_NORMAL_STRENGTH if req.normal_strength is None else req.normal_strength
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"--normal-strength must be a number >= 0, got {strength}")
    if req.tile is not None and req.tile < 1:
        raise ValueError(f"--tile must be at least 1 pixel, got {req.tile}")
    out = Path(req.out)
    if not out.parent.exists():
        raise ValueError(f"output folder {out.parent} does not exist")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: {out.parent} is not a folder")
    return strength


def generate_files(req: GenerateRequest, progress_bar: bool = False, keep_maps: bool = False) -> GenerateResult:
    """Check everything, paint each seed and write its maps; one-line ValueError/OSError on bad input."""
    import numpy as np

    from addon.core.classes import resolve_class
    from addon.core.files import AtomicFiles
    from addon.core.model import TextureModel
    from addon.core.paint import PaintSettings, color_maps, encode_maps, paint

    out = Path(req.out)
    fmt, bits = resolve_format(out, req.format, req.bit_depth)
    width = req.width
    height = req.height if req.height is not None else req.width
    strength = _check(req, width, height)

    model = TextureModel(req.model, device=req.device, threads=req.threads)
    class_row, _ = resolve_class(model.classes, req.class_choice, f"model '{model.name}'")
    layout = {m["name"]: m for m in model.maps}
    names = list(layout)
    with_normal = "height" in layout and req.normal
    if with_normal:
        names.append("normal")
    seeds = list(range(req.seed, req.seed + req.count))
    paths = output_paths(out, names, seeds)
    for seed in seeds:  # refuse before any work, not after painting half the set
        for p in paths[seed].values():
            if p.exists() and not req.force:
                raise FileExistsError(f"{p} already exists; pass --force to overwrite it")

    note = f" (CUDA not used: {model.fallback_reason})" if model.fallback_reason else ""
    print(f"texgan: model '{model.name}' on {model.device} [{', '.join(model.providers)}]{note}", file=sys.stderr)

    # Integer codes keep big textures small; 16-bit codes when a normal map is derived from height.
    if fmt == "png":
        dtype = np.uint16 if bits == 16 or with_normal else np.uint8
    else:
        dtype = np.float16 if bits == 16 else np.float32
    settings = PaintSettings(width, height, class_choice=class_row, tile=req.tile, dtype=dtype, normal=with_normal,
                             normal_strength=strength, lazy_normal=True, max_side=req.max_side,
                             normal_dtype={8: np.uint8, 16: np.uint16}[bits] if fmt == "png" else dtype)
    colors = color_maps(model)

    bar = None
    if progress_bar and (width * height * req.count >= SHOW_PROGRESS_PIXELS or req.count >= 4):
        from tqdm import tqdm
        bar = tqdm(total=req.count, desc=f"texgan generate {width}x{height} x{req.count}", leave=False,
                   bar_format="{l_bar}{bar}| [{elapsed}<{remaining}]", file=sys.stderr)
    t0 = time.time()
    written, maps = [], None
    try:
        for k, seed in enumerate(seeds):
            targets = paths[seed]
            with AtomicFiles(targets.values(), force=req.force) as files:  # reserved before the slow part
                def progress(f, k=k):
                    if bar is not None:
                        bar.update(k + f - bar.n)  # tqdm throttles the redraws
                maps = paint(model, dataclasses.replace(settings, seed=seed), progress=progress).maps(0)
                encode_maps(files, targets, maps, fmt, bits, colors)
            written += list(targets.values())
    finally:
        if bar is not None:
            bar.close()
    return GenerateResult(written, width, height, model.device, time.time() - t0, model,
                          maps if keep_maps else None)
