"""Make docs/images/readme_starters.jpg: for two starter models, exemplar | a 512 px texture | a 256 px
texture tiled 2x2 (a seam would show as a cross through the middle).

    .venv/bin/python bench/readme_picture.py [OUT.png] [NAME ...]     (default: bricks cobbles)

The textures come from the shipped ONNX models (addon/models/) through the same paint path as
`texgan generate`, seed 0; the exemplar is the base colour the model was trained on, shown at the
same pixel scale.
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from addon.core.maps import split_maps  # noqa: E402
from addon.core.model import TextureModel  # noqa: E402

SIDE, TILE, GAP = 512, 256, 8


def base_color(model: TextureModel, size: int) -> Image.Image:
    rgb = split_maps(model.generate(size, size, seed=0, dtype=np.uint8)[0], model.channels)["base_color"]
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def row(name: str) -> Image.Image:
    model = TextureModel(ROOT / "addon" / "models" / f"{name}.onnx", device="cpu")
    exemplar = Image.open(ROOT / "gan_core" / "exemplars" / name / "basecolor.png").convert("RGB")
    exemplar = exemplar.crop((0, 0, min(SIDE, exemplar.width), min(SIDE, exemplar.height)))
    tile = base_color(model, TILE)
    tiled = Image.new("RGB", (2 * TILE, 2 * TILE))
    for y in (0, TILE):
        for x in (0, TILE):
            tiled.paste(tile, (x, y))
    parts = [exemplar, base_color(model, SIDE), tiled]
    out = Image.new("RGB", (sum(p.width for p in parts) + GAP * (len(parts) - 1), SIDE + 24), "white")
    x = 0
    for p, label in zip(parts, ("exemplar", f"{name}: texgan, {SIDE} px", f"{TILE} px tiled 2x2")):
        out.paste(p, (x, 24))
        ImageDraw.Draw(out).text((x + 4, 6), label, fill="black")
        x += p.width + GAP
    return out


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "readme_starters.jpg"
    rows = [row(n) for n in (sys.argv[2:] or ["bricks", "cobbles"])]
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + GAP * (len(rows) - 1)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + GAP
    sheet.save(out, quality=88)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
