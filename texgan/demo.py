"""`texgan demo`: the whole flow on the built-in exemplar, on a CPU-friendly budget.

exemplar -> run (train) -> model.onnx (export) -> 1024^2 maps + 2x2 tiled preview (generate)
         -> quality report (eval) -> a .blend with the material on an object (Blender extension code)
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

import gan_core

# cobbles: the built-in material that becomes recognisable fastest on a 2-core CPU (bricks needs longer)
DEFAULT_EXEMPLAR = Path(gan_core.__file__).parent / "exemplars" / "cobbles"


def register(sub) -> None:
    p = sub.add_parser("demo", help="train on the built-in exemplar, then show everything texgan makes")
    p.add_argument("--out", default="demo", help="output folder (default ./demo)")
    p.add_argument("--minutes", type=float, default=6.0, help="training budget in minutes (default 6)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--force", action="store_true", help="start over if --out already holds a demo")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args) -> int:
    return run_demo(Path(args.out), minutes=args.minutes, device=args.device, force=args.force)


def run_demo(out: Path, minutes: float = 6.0, device: str = "auto", force: bool = False) -> int:
    from export.onnx_export import export_run
    from gan_core.config import TrainConfig
    from gan_core.train import train

    from .cmd_export import print_export_report
    from .cmd_train import evaluate_source
    from .generate import GenerateRequest, generate_files

    run = out / "run"
    ours = [p for p in _demo_outputs(out) if p.exists()]
    if ours and not force:
        raise ValueError(f"{out} already holds a demo; pass --force to start over or choose another --out")
    for p in ours:  # only what a demo writes: never anything else in that folder
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)

    print(f"texgan demo: 1/5 training on the built-in exemplar '{DEFAULT_EXEMPLAR.name}' for {minutes:g} min")
    cfg = TrainConfig(data=str(DEFAULT_EXEMPLAR), out=str(run), max_minutes=minutes, steps=1_000_000, device=device)
    result = train(cfg)

    print("texgan demo: 2/5 exporting the EMA generator to ONNX (checked before it is written)")
    model = out / "model.onnx"
    print_export_report(export_run(run, model, name=f"demo-{DEFAULT_EXEMPLAR.name}"))

    print("texgan demo: 3/5 generating a 1024x1024 material with ONNX Runtime")
    painted = generate_files(GenerateRequest(model, out / "texture.png", 1024, seed=0, device=device),
                             progress_bar=True, keep_maps=True)
    base = np.asarray(Image.open(out / "texture_basecolor.png").convert("RGB"))
    Image.fromarray(np.tile(base[::2, ::2], (2, 2, 1))).save(out / "texture_tiled_2x2.png")

    print("texgan demo: 4/5 measuring quality against the exemplar")
    report = evaluate_source(str(model), str(DEFAULT_EXEMPLAR))
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")

    blend = out / "texgan_demo.blend"
    blend_note = _write_blend(blend, model, painted)

    print(f"\ntexgan demo: trained {result.step} steps in {result.seconds / 60:.1f} min. Everything is in {out}/:")
    print(f"  run/                  checkpoint, log.csv, loss.png, samples/ (grids and 2x2 tiled previews)")
    print(f"  model.onnx            self-describing generator: texgan inspect {model}")
    print(f"  texture_*.png         1024x1024 base colour, height, roughness and normal maps")
    print(f"  texture_tiled_2x2.png the base colour tiled 2x2 at half size: a seam would show as a cross")
    print(f"  eval.json             SWD ratio to the real-vs-real floor {report['swd_ratio']:.2f}, "
          f"seam ratio {report['seam_ratio']:.2f}")
    print(f"  {blend.name:<21} {blend_note}")
    return 0


def _demo_outputs(out: Path) -> list[Path]:
    names = ["run", "model.onnx", "eval.json", "texgan_demo.blend", "texture_tiled_2x2.png"]
    maps = [f"texture_{m}.png" for m in ("basecolor", "height", "roughness", "normal")]
    return [out / n for n in names + maps]


def _write_blend(blend: Path, model: Path, painted) -> str:
    print("texgan demo: 5/5 writing a .blend whose material uses the texture")
    try:
        import bpy  # noqa: F401  (the Blender-as-a-module wheel, Python 3.11 only)
    except ImportError:
        return "skipped: the bpy module is not installed (pip install 'texgan[blender]' on Python 3.11)"
    from addon.core.maps import as_unit_float
    from addon.demo_scene import write_textured_blend
    # The maps painted in step 3 (the blend shows the files' texture; no second painting)
    maps = {k: as_unit_float(np.asarray(v)) for k, v in painted.maps.items() if k != "normal"}
    write_textured_blend(blend, model_path=model, maps=maps, width=1024, height=1024, seed=0, name="texgan demo")
    return f"a sphere on a floor with the material (open it in Blender 4.2+; painted on {painted.device})"
