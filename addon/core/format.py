"""The texgan model format: names, limits, the metadata schema, and its checks against the graph.

Model contract (docs/onnx-format.md): input `latent` float32 [batch, latent_channels, h, w]
(latent cells), output `texture` float32 [batch, C, h*scale, w*scale] in [0, 1]; everything
else is in the model's `texgan.*` metadata_props. Conditional models (metadata `classes`) take
a second input `class_weights` float32 [batch, K].

Models travel between studios, so nothing in the metadata is believed that can be checked:
every key is type- and range-checked here, and :func:`probe_graph` runs the graph on a tiny
latent to confirm the scale, the channel count and that the declared receptive radius (the
tiling halo) covers what the graph really reads. Anything wrong is a one-line ModelError.
"""
from __future__ import annotations

import json
import math

import numpy as np

from .latent import LATENT_RECIPE, LATENT_RECIPE_BINARY_CELLS, LATENT_RECIPE_CELLS, sample_latent  # recipes live with their code
from .maps import map_layout

SCHEMA_VERSION = 1
CELL_RECIPES = (LATENT_RECIPE_CELLS, LATENT_RECIPE_BINARY_CELLS)
INPUT_NAME, OUTPUT_NAME = "latent", "texture"
CLASS_INPUT_NAME = "class_weights"  # second input of conditional models

# Limits. MAX_SIDE is the largest texture side anywhere in texgan (CLI, recipe, Blender).
MAX_SIDE = 16384
# Defaults of the settings every front end shares (CLI, recipe, Blender); one place each.
DEFAULT_SIZE = 1024           # texture side in pixels
DEFAULT_UI_MAX_SIZE = 8192    # the Blender preferences' size limit (an artist's session, not a batch job)
DEFAULT_TEXTURE_SCALE = 1.0   # repeats per UV unit
DEFAULT_BUMP_STRENGTH = 0.5
MAX_SCALE = 64             # pixels per latent cell
MAX_RADIUS_CELLS = 64      # receptive radius (tiling halo); texgan's generators need under 10
MAX_LATENT_CHANNELS = 1024
MAX_OUTPUT_CHANNELS = 64
MAX_CLASSES = 4096

KEY_ORDER = ("schema_version", "name", "channels", "maps", "scale", "value_range", "tileable", "latent",
             "receptive_radius_cells", "input", "classes", "class_input", "output", "precision", "training", "version",
             "exporter_version", "weights_sha256")
JSON_KEYS = ("latent", "channels", "maps", "value_range", "training", "classes")
INT_KEYS = ("schema_version", "scale", "receptive_radius_cells")


class ModelError(ValueError):
    """Missing, corrupt or foreign model, or a device that cannot run it (one-line message)."""


class Cancelled(Exception):
    """Generation stopped because cancel() returned True."""


def _whole(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _decode(props: dict[str, str], where: str) -> dict:
    out: dict = {}
    for key, value in props.items():
        if not key.startswith("texgan."):
            continue
        k = key[len("texgan."):]
        try:
            if k in JSON_KEYS:
                out[k] = json.loads(value)
            elif k in INT_KEYS:
                out[k] = int(value)
            elif k == "tileable":
                out[k] = value.strip().lower() == "true"
            else:
                out[k] = value
        except (ValueError, TypeError) as e:
            raise ModelError(f"{where} has unreadable texgan metadata ({k}: {str(e)[:80]})") from None
    return out


def _check_latent(lat, where: str) -> None:
    bad = f"{where} has inconsistent texgan latent metadata"
    if not isinstance(lat, dict):
        raise ModelError(f"{bad} (texgan.latent must be an object)")
    counts = [lat.get(k) for k in ("local", "global", "periodic")] + [lat.get("cell", 0)]
    if not all(_whole(c, 0, MAX_LATENT_CHANNELS) for c in counts):
        raise ModelError(f"{bad} (local, global, periodic and cell must be whole numbers from 0 to {MAX_LATENT_CHANNELS})")
    if not _whole(lat.get("channels"), 1, MAX_LATENT_CHANNELS) or sum(counts) != lat["channels"]:
        raise ModelError(f"{bad} (channels must be local + global + periodic + cell, at least 1)")
    waves = lat.get("wave_vectors")
    if (not isinstance(waves, list) or len(waves) != counts[2]
            or not all(isinstance(k, list) and len(k) == 2 and all(_finite(v) for v in k) for k in waves)):
        raise ModelError(f"{bad} (wave_vectors must be {counts[2]} pairs of numbers)")
    recipe = lat.get("sampling", LATENT_RECIPE)
    if recipe not in (LATENT_RECIPE, *CELL_RECIPES):
        raise ModelError(f"{where} needs latent recipe {str(recipe)[:40]!r}; this texgan knows "
                         f"{LATENT_RECIPE}, {LATENT_RECIPE_CELLS} and {LATENT_RECIPE_BINARY_CELLS}")
    if counts[3] and (recipe not in CELL_RECIPES or counts[2] != 2 or not _finite(lat.get("cell_shear"))
                      or not 0 <= lat["cell_shear"] < 1):
        raise ModelError(f"{bad} (cell channels need recipe {LATENT_RECIPE_CELLS} or {LATENT_RECIPE_BINARY_CELLS}, "
                         f"two periodic channels and a cell_shear from 0 to 1)")


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) < 1e6


def _check_classes(out: dict, where: str) -> None:
    classes = out.get("classes")
    if (not isinstance(classes, list) or not 0 < len(classes) <= MAX_CLASSES
            or not all(isinstance(c, str) and c for c in classes) or len(set(classes)) != len(classes)):
        raise ModelError(f"{where} has unreadable texgan metadata (classes: a list of distinct names expected)")
    if out.get("class_input") != CLASS_INPUT_NAME:
        raise ModelError(f"{where} has classes but its class input is {str(out.get('class_input'))[:40]!r}, "
                         f"not {CLASS_INPUT_NAME!r}")


def parse_metadata(props: dict[str, str], where: str = "model") -> dict:
    """Raw metadata_props -> dict keyed without the "texgan." prefix, JSON values decoded and checked."""
    if "texgan.schema_version" not in props:
        raise ModelError(f"{where} is an ONNX model but not a texgan generator (no texgan metadata)")
    out = _decode(props, where)
    if out["schema_version"] > SCHEMA_VERSION:
        raise ModelError(f"{where} uses texgan metadata schema {out['schema_version']}; this texgan reads "
                         f"schema {SCHEMA_VERSION} (update texgan)")
    if out["schema_version"] < 1:
        raise ModelError(f"{where} has unreadable texgan metadata (schema_version {out['schema_version']})")
    missing = [k for k in ("latent", "scale", "channels", "receptive_radius_cells") if k not in out]
    if missing:
        raise ModelError(f"{where} lacks texgan metadata: {', '.join('texgan.' + k for k in missing)}")
    if not 1 <= out["scale"] <= MAX_SCALE:
        raise ModelError(f"{where}: texgan.scale {out['scale']} is outside 1..{MAX_SCALE} pixels per cell")
    if not 0 <= out["receptive_radius_cells"] <= MAX_RADIUS_CELLS:
        raise ModelError(f"{where}: texgan.receptive_radius_cells {out['receptive_radius_cells']} is outside "
                         f"0..{MAX_RADIUS_CELLS} (no texgan generator reads that far)")
    _check_latent(out["latent"], where)
    channels = out["channels"]
    if (not isinstance(channels, list) or not 0 < len(channels) <= MAX_OUTPUT_CHANNELS
            or not all(isinstance(c, str) and c for c in channels)):
        raise ModelError(f"{where}: texgan.channels must list 1 to {MAX_OUTPUT_CHANNELS} channel names")
    try:
        layout = map_layout(channels)
    except ValueError as e:
        raise ModelError(f"{where}: texgan.channels: {e}") from None
    if out.setdefault("maps", layout) != layout:
        raise ModelError(f"{where}: texgan.maps does not match texgan.channels")
    if "classes" in out or "class_input" in out:
        _check_classes(out, where)
    order = {k: i for i, k in enumerate(KEY_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


# ----------------------------------------------------------------------------------------
# Against the graph
# ----------------------------------------------------------------------------------------

def signature(session) -> dict:
    def desc(args):
        return [{"name": a.name, "type": a.type, "shape": [d if isinstance(d, int) else str(d) for d in a.shape]}
                for a in args]
    return {"inputs": desc(session.get_inputs()), "outputs": desc(session.get_outputs())}


def check_signature(session, meta: dict, where: str) -> None:
    ins, outs = session.get_inputs(), session.get_outputs()
    classes = meta.get("classes") or []
    if classes:
        names = [a.name for a in ins]
        if names != [INPUT_NAME, CLASS_INPUT_NAME] or len(outs) != 1 or outs[0].name != OUTPUT_NAME:
            raise ModelError(f"{where}: a conditional model needs inputs '{INPUT_NAME}', '{CLASS_INPUT_NAME}' "
                             f"and one output '{OUTPUT_NAME}'")
        k = ins[1].shape[1] if len(ins[1].shape) == 2 else None
        if isinstance(k, int) and k != len(classes):
            raise ModelError(f"{where}: {CLASS_INPUT_NAME} has {k} columns, metadata lists {len(classes)} classes")
    elif len(ins) != 1 or ins[0].name != INPUT_NAME or len(outs) != 1 or outs[0].name != OUTPUT_NAME:
        raise ModelError(f"{where}: expected one input '{INPUT_NAME}' and one output '{OUTPUT_NAME}'")
    shape = ins[0].shape
    if len(shape) != 4:
        raise ModelError(f"{where}: input '{INPUT_NAME}' must be 4-D [batch, channels, h, w]")
    c = shape[1]
    if isinstance(c, int) and c != meta["latent"]["channels"]:
        raise ModelError(f"{where}: input has {c} channels, metadata says {meta['latent']['channels']}")


def probe_graph(run, meta: dict, where: str) -> int:
    """Run the graph on two thin latents (a column and a row of 2r+3 cells) and check the metadata.

    run(z) -> texture. Checks the output shape (scale and channel count) and that a change of
    the middle cell reaches no further than the declared radius r. Returns the reach measured.
    """
    s, r, C = meta["scale"], meta["receptive_radius_cells"], len(meta["channels"])
    n, mid, L = 2 * r + 3, r + 1, meta["latent"]["local"]
    reach = 0
    for h, w in ((n, 1), (1, n)):
        z = sample_latent(meta, 0, h, w)
        try:
            y = np.asarray(run(z))
        except Exception as e:  # noqa: BLE001 - ONNX Runtime's own error types
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ModelError(f"{where}: the graph does not run as its texgan metadata describes "
                             f"({first.split(' failed:', 1)[-1].strip()[:120]})") from None
        if y.shape != (1, C, h * s, w * s):
            raise ModelError(f"{where}: the graph paints {tuple(y.shape[1:])} from a {h}x{w}-cell latent, but the "
                             f"metadata says {C} channels at {s} px per cell ({(C, h * s, w * s)})")
        if not L:
            continue
        z2 = z.copy()
        z2[0, :L, mid if h > 1 else 0, mid if w > 1 else 0] += 1.0
        changed = np.abs(np.asarray(run(z2)) - y).max(axis=(0, 1)) > 0   # [H, W] pixels
        cells = np.nonzero(changed.any(axis=1) if h > 1 else changed.any(axis=0))[0] // s
        if cells.size:
            reach = max(reach, int(np.abs(cells - mid).max()))
    if reach > r:
        raise ModelError(f"{where}: the graph reads latent cells {reach} away but texgan.receptive_radius_cells "
                         f"says {r}; tiled textures would not match")
    return reach


# ----------------------------------------------------------------------------------------
# The record a texgan material carries (material["texgan"]): Generate operator, bake, demo
# ----------------------------------------------------------------------------------------

def material_record(model: str, seed: int, width: int, height: int, scale: float, model_name: str | None = None,
                    class_choice: str | None = None, **extra) -> dict:
    """What a material painted by texgan remembers; `class` only for conditional models."""
    record = {"model": str(model)}
    if model_name is not None:
        record["model_name"] = str(model_name)
    record.update({"seed": int(seed), "width": int(width), "height": int(height), "scale": float(scale), **extra})
    if class_choice is not None:
        record["class"] = class_choice
    return record
