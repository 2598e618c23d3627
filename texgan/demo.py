"""`texgan demo`: the whole flow on the built-in exemplar, on a CPU-friendly budget.

exemplar -> run (train) -> texture 1024^2 + 2x2 tiled preview -> quality report
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

import gan_core

DEFAULT_EXEMPLAR = Path(gan_core.__file__).parent / "exemplars" / "bricks"


def run_demo(out: Path, minutes: float = 6.0, device: str = "auto", force: bool = False) -> int:
    from gan_core.config import TrainConfig
    from gan_core.data import to_uint8_image
    from gan_core.sample import generate, load_generator
    from gan_core.train import train

    from .cmd_train import evaluate_source

    run = out / "run"
    if run.exists():
        if not force:
            raise ValueError(f"{out} already holds a demo; pass --force to start over or choose another --out")
        shutil.rmtree(run)
    out.mkdir(parents=True, exist_ok=True)
    print(f"texgan demo: training on the built-in exemplar {DEFAULT_EXEMPLAR.name} for {minutes:g} min")
    cfg = TrainConfig(data=str(DEFAULT_EXEMPLAR), out=str(run), max_minutes=minutes, steps=100_000, device=device)
    result = train(cfg)

    G, _ = load_generator(run)
    texture = generate(G, 1024, 1024, count=1, seed=0)[0]
    Image.fromarray(to_uint8_image(texture)).save(out / "texture.png")
    Image.fromarray(np.tile(to_uint8_image(texture[:, ::2, ::2]), (2, 2, 1))).save(out / "texture_tiled_2x2.png")
    report = evaluate_source(str(run), str(DEFAULT_EXEMPLAR))
    (out / "eval.json").write_text(json.dumps(report, indent=2) + "\n")

    print(f"\ntexgan demo: trained {result.step} steps in {result.seconds / 60:.1f} min")
    print(f"  run directory      {run}/  (checkpoint, log.csv, loss.png, samples/)")
    print(f"  1024x1024 texture  {out / 'texture.png'}")
    print(f"  2x2 tiled preview  {out / 'texture_tiled_2x2.png'}  (a seam would show as a cross)")
    print(f"  quality report     {out / 'eval.json'}  SWD ratio to floor {report['swd_ratio']:.2f}, "
          f"seam ratio {report['seam_ratio']:.2f}")
    return 0
