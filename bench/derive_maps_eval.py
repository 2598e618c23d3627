"""How well `--derive-maps` recovers height and roughness: Pearson r against the true maps.

    .venv/bin/python bench/derive_maps_eval.py          # prints the tables in docs/derive-maps.md

Scored on the four shipped procedural exemplars, and on the same generators run with five other
seeds (new layouts and noise the method was not tuned on), each step of the method added in turn,
and once more under a synthetic uneven light. Deterministic; about a minute on 2 CPU cores.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gan_core import derive_maps as dm  # noqa: E402
from gan_core.exemplars import make_exemplars as mk  # noqa: E402

NAMES = ["bricks", "cobbles", "planks", "moss"]
HELD_OUT_SEEDS = [11, 12, 13, 14, 15]


def pearson(a, b) -> float:
    a, b = np.ravel(a) - np.mean(a), np.ravel(b) - np.mean(b)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def shipped(name):
    d = ROOT / "gan_core" / "exemplars" / name
    return (np.asarray(Image.open(d / "basecolor.png").convert("RGB"), np.float32) / 255,
            np.asarray(Image.open(d / "height.png"), np.float64) / 65535,
            np.asarray(Image.open(d / "roughness.png"), np.float64) / 255)


def regenerated(name, seed):
    color, height, rough = mk.MATERIALS[name][1](np.random.default_rng(seed))
    color = (np.round(np.clip(color, 0, 1) * 255) / 255).astype(np.float32)   # as the 8-bit PNG holds it
    return color, mk.normalize01(height), np.clip(rough, 0, 1)


def uneven_light(color):
    h, w = color.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    light = 0.55 + 0.45 * np.sin(np.pi * xx / w) * np.cos(0.5 * np.pi * (yy / h - 0.5))
    return np.clip(color * light[..., None], 0, 1).astype(np.float32)


def variants(color, crop=64):
    """Height estimates, one per step of the method (the last is dm.derive's)."""
    base = dm.remove_shading(color, crop / 2)
    lum = dm._log_luma(base)
    band = dm.blur(lum, 1.0) - dm.blur(lum, crop / 4)
    bright, dark = dm.network_shares(band, 4 * crop)
    signed = -band if (bright >= dm.NETWORK_MIN and bright > 2 * dark) else band
    return {"luminance (dark = low)": color @ dm.LUMA,
            "+ log band-pass": band,
            "+ sign from joints": signed,
            "+ crevice term (derive)": dm.derive(color, crop)["height"][..., 0]}


def main() -> None:
    sets = {"shipped": {n: [shipped(n)] for n in NAMES},
            "held-out seeds": {n: [regenerated(n, s) for s in HELD_OUT_SEEDS] for n in NAMES}}
    for title, data in sets.items():
        print(f"\n### Height, {title} (Pearson r{', mean of 5 seeds' if 'seeds' in title else ''})\n")
        print("| step | " + " | ".join(NAMES) + " |")
        print("|---|" + "---|" * len(NAMES))
        scores = {n: [variants(c) for c, _, _ in data[n]] for n in NAMES}
        for key in scores[NAMES[0]][0]:
            cells = [np.mean([pearson(v[key], h) for v, (_, h, _) in zip(scores[n], data[n])]) for n in NAMES]
            print(f"| {key} | " + " | ".join(f"{c:+.2f}" for c in cells) + " |")
        shaded = [np.mean([pearson(dm.derive(uneven_light(c))["height"], h) for c, h, _ in data[n]]) for n in NAMES]
        print("| derive, under an uneven light | " + " | ".join(f"{c:+.2f}" for c in shaded) + " |")
        rough = [np.mean([pearson(dm.derive(c)["roughness"], r) for c, _, r in data[n]]) for n in NAMES]
        print("| **roughness** (derive) | " + " | ".join(f"{c:+.2f}" for c in rough) + " |")


if __name__ == "__main__":
    main()
