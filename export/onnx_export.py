"""Export a trained run's EMA generator to one self-describing, verified .onnx file.

Exporter choice: torch's TorchScript exporter (`torch.onnx.export(..., dynamo=False)`).
  * It writes circular padding as Slice + Concat (or Gather), which every ONNX Runtime
    execution provider (CPU, CUDA, TensorRT, DirectML, CoreML) runs natively at any opset >= 11.
    The dynamo exporter writes Pad(mode="wrap"), which needs opset >= 19, is missing from
    older runtimes and some providers, and would add onnxscript as a dependency.
  * The graph is the generator rewritten by export/pad_once.py: the latent is wrapped once,
    the convolutions run unpadded (the same function, ~1.2-1.3x faster on the CPU than a pad
    per convolution; docs/benchmarks.md), and each nearest upsampling with the 3x3 convolution
    after it runs as one stride-2 ConvTranspose (4 taps per output pixel instead of 9).
  * With dynamic_axes it gives a clean single-file graph whose batch, height and width are
    symbolic, so one file paints any size.
  * Supported opsets: 11 (Resize with nearest/asymmetric) up to the newest the installed
    `onnx` knows; the default, 17, runs on ONNX Runtime 1.13 and later.

The graph maps `latent` [batch, latent_channels, height, width] to `texture`
[batch, C, height*scale, width*scale] in [0, 1] (the tanh output is mapped to [0, 1] inside
the graph). --fp16 stores weights and computes in float16 but keeps float32 inputs and
outputs, so consumers feed the same latent either way.

Conditional runs (g_spec.num_classes K > 0) export G(latent, class_weights): a second input
`class_weights` float32 [batch, K] (one row per texture; one-hot picks a class, other rows
blend them), with metadata `classes` (names in index order) and `class_input`. Unconditional
exports are unchanged (one input, same bytes).

Nothing is written until the model passes, in memory: onnx.checker (full check), ONNX
Runtime vs PyTorch parity at several latent sizes (odd, non-square, batch > 1), the roll
test (rolling the latent by k cells rolls the image by k*scale pixels) in ONNX Runtime, and
a measured receptive field no wider than the declared tiling halo. The file is then written
to a temporary name in the target folder and renamed into place.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from addon.core.format import (CLASS_INPUT_NAME, INPUT_NAME, LATENT_RECIPE, LATENT_RECIPE_BINARY_CELLS, LATENT_RECIPE_CELLS,
                                OUTPUT_NAME, SCHEMA_VERSION, parse_metadata)
from addon.core.latent import LatentSampler
from addon.core.maps import map_layout

from .pad_once import pad_once

DEFAULT_OPSET = 17
MIN_OPSET = 11
FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 1e-2
# (batch, height cells, width cells): square, odd and non-square, batch > 1.
PARITY_SIZES = ((2, 6, 10), (1, 7, 5), (3, 9, 9), (1, 13, 4))
ROLL_SIZE, ROLL_SHIFT = (8, 12), (3, 5)


class ExportError(ValueError):
    """Export refused or verification failed (one-line message)."""


def weights_sha256(module) -> str:
    """sha256 over the state dict: for each tensor in sorted name order, the name, a NUL, the
    shape as JSON, a NUL, then the values as little-endian float32 in C order."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        a = t.detach().cpu().float().contiguous().numpy().astype("<f4", copy=False)
        h.update(name.encode() + b"\0" + json.dumps(list(a.shape)).encode() + b"\0")
        h.update(a.tobytes())
    return h.hexdigest()


def measure_receptive_radius(G, probe: int) -> int:
    """Largest Chebyshev distance (cells) from which a latent cell changes one cell's pixels."""
    import torch
    n = 2 * probe + 3
    s = G.scale
    z = torch.randn(1, G.spec.latent_channels, n, n, requires_grad=True)
    c = n // 2
    with torch.enable_grad():
        G(z)[:, :, c * s:(c + 1) * s, c * s:(c + 1) * s].sum().backward()
    hit = (z.grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    return int((hit - c).abs().max()) if len(hit) else 0


def _build_metadata(G, info: dict, name: str, precision: str, radius: int, sha: str) -> dict[str, str]:
    spec, cfg = G.spec, info.get("config", {})
    from gan_core import __version__
    latent = {"channels": spec.latent_channels, "local": getattr(spec, "iid_channels", spec.local_channels), "global": spec.global_channels,
              "periodic": spec.periodic_channels, "order": ["local", "global", "periodic"],
              "wave_vectors": [[float(k[0]), float(k[1])] for k in G.wave_vectors.detach().cpu().tolist()],
              "sampling": LATENT_RECIPE}
    if getattr(spec, "cell_channels", 0):
        latent.update(cell=spec.cell_channels, cell_shear=float(G.cell_shear),
                      order=["local", "global", "periodic", "cell"],
                      sampling=LATENT_RECIPE_BINARY_CELLS if spec.cell_values == "binary" else LATENT_RECIPE_CELLS)
    training = {"exemplars": list(info.get("exemplars", [])), "steps": int(info.get("step", 0)),
                "crop_size": cfg.get("size"), "loss": cfg.get("loss"), "batch": cfg.get("batch"),
                "seed": cfg.get("seed"), "seconds": round(float(info.get("seconds", 0.0)), 1),
                "arch": info.get("arch", "texture"), "g_widths": list(spec.widths)}
    channels = list(info["channels"])
    cond = {}
    if getattr(spec, "num_classes", 0):
        classes = [str(c) for c in info.get("classes") or []]
        if len(classes) != spec.num_classes:
            raise ExportError(f"the checkpoint has {spec.num_classes} classes but names {len(classes)} "
                              f"({', '.join(classes) or 'none'}); cannot describe the class input")
        cond = {"classes": json.dumps(classes), "class_input": CLASS_INPUT_NAME}
    meta = {
        "schema_version": str(SCHEMA_VERSION),
        "name": name,
        "input": INPUT_NAME,
        **cond,
        "output": OUTPUT_NAME,
        "latent": json.dumps(latent),
        "scale": str(G.scale),
        "receptive_radius_cells": str(radius),
        "channels": json.dumps(channels),
        "maps": json.dumps(map_layout(channels)),
        "value_range": json.dumps([0.0, 1.0]),
        "tileable": "true",
        "precision": precision,
        "training": json.dumps(training),
        "version": str(info.get("texgan_version", __version__)),
        "exporter_version": __version__,
        "weights_sha256": sha,
    }
    return {f"texgan.{k}": v for k, v in meta.items()}


def _wrapper(G, fp16: bool, wrap_once: bool = True):
    import torch
    rewrite = pad_once if wrap_once else (lambda g: g)

    class ExportedConditional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.G = rewrite(copy.deepcopy(G).half() if fp16 else G)

        def forward(self, latent, class_weights):
            x = latent.half() if fp16 else latent
            c = class_weights.half() if fp16 else class_weights
            y = self.G(x, c)
            if fp16:
                y = y.float()
            return y * 0.5 + 0.5

    if getattr(G.spec, "num_classes", 0):
        return ExportedConditional().eval()

    class Exported(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.G = rewrite(copy.deepcopy(G).half() if fp16 else G)

        def forward(self, latent):
            x = latent.half() if fp16 else latent
            y = self.G(x)
            if fp16:
                y = y.float()
            return y * 0.5 + 0.5

    return Exported().eval()


def _torch_export(module, latent_channels: int, opset: int, num_classes: int = 0) -> bytes:
    import torch
    buf = io.BytesIO()
    example = (torch.zeros(2, latent_channels, 6, 9),)  # batch >= 2, non-square
    names = [INPUT_NAME]
    axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
            OUTPUT_NAME: {0: "batch", 2: "pixel_height", 3: "pixel_width"}}
    if num_classes:
        example += (torch.full((2, num_classes), 1.0 / num_classes),)
        names.append(CLASS_INPUT_NAME)
        axes[CLASS_INPUT_NAME] = {0: "batch"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, example, buf, dynamo=False, opset_version=opset, do_constant_folding=True,
                input_names=names, output_names=[OUTPUT_NAME], dynamic_axes=axes)
    except Exception as e:
        raise ExportError(f"torch could not export the generator at opset {opset}: {str(e).splitlines()[0][:200]}") from None
    return buf.getvalue()


def _latent(meta: dict, seeds, h: int, w: int) -> np.ndarray:
    return np.concatenate([LatentSampler(meta, s, h, w).window(0, h, 0, w) for s in seeds])


def _class_rows(K: int, start: int, b: int) -> np.ndarray:
    """b rows of class weights cycling through the one-hot rows and an even blend of all classes."""
    choices = np.concatenate([np.eye(K, dtype=np.float32), np.full((1, K), 1.0 / K, np.float32)])
    return choices[[(start + j) % len(choices) for j in range(b)]]


def verify(model_bytes: bytes, G, meta: dict, tol: float) -> dict:
    """ORT parity at PARITY_SIZES and the roll test; raises ExportError on any failure.
    Conditional models are checked with one-hot and blended class rows."""
    import onnxruntime as ort
    import torch
    try:
        sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ExportError(f"ONNX Runtime {ort.__version__} cannot load the exported model: "
                          f"{str(e).splitlines()[0][:200]}") from None
    s = G.scale
    K = len(meta.get("classes") or [])

    def feeds(z, rows):
        return {INPUT_NAME: z, CLASS_INPUT_NAME: rows} if K else {INPUT_NAME: z}

    parity = []
    start = 0
    for i, (b, h, w) in enumerate(PARITY_SIZES):
        z = _latent(meta, range(10 * i, 10 * i + b), h, w)
        rows = _class_rows(K, start, b) if K else None
        start += b
        with torch.no_grad():
            ref = (G(torch.from_numpy(z), torch.from_numpy(rows) if K else None).numpy() + 1) * 0.5
        got = sess.run([OUTPUT_NAME], feeds(z, rows))[0]
        if got.shape != ref.shape:
            raise ExportError(f"ONNX output shape {got.shape} differs from PyTorch {ref.shape} for latent {z.shape}")
        err = float(np.abs(got - ref).max())
        parity.append({"latent": list(z.shape), "max_abs_error": err})
        if K:
            parity[-1]["class_weights"] = rows.tolist()
        if not err <= tol:
            raise ExportError(f"ONNX Runtime differs from PyTorch by {err:.3g} (> {tol:g}) for latent {list(z.shape)}")
    z = _latent(meta, [99], *ROLL_SIZE)
    rows = _class_rows(K, K, 1) if K else None  # the blended row
    dy, dx = ROLL_SHIFT
    y = sess.run([OUTPUT_NAME], feeds(z, rows))[0]
    y_rolled = sess.run([OUTPUT_NAME], feeds(np.ascontiguousarray(np.roll(z, (dy, dx), axis=(2, 3))), rows))[0]
    roll_err = float(np.abs(y_rolled - np.roll(y, (dy * s, dx * s), axis=(2, 3))).max())
    if not roll_err <= tol:
        raise ExportError(f"roll test failed in ONNX Runtime: rolling the latent by ({dy}, {dx}) cells is off "
                          f"by {roll_err:.3g} from rolling the image (> {tol:g}); the model is not tileable")
    return {"parity": parity, "roll_max_abs_error": roll_err}


def export_run(run, out, fp16: bool = False, opset: int | None = None, name: str | None = None,
               force: bool = False, wrap_once: bool = True) -> dict:
    """Export the EMA generator of `run` (run dir or checkpoint) to `out`; returns a report dict.
    wrap_once=False exports the trained graph as is (a circular pad around every convolution): the
    same function, slower; bench/synthesis.py measures the difference."""
    import onnx
    import torch
    from gan_core.sample import load_generator

    t0 = time.time()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ExportError(f"--out must name an .onnx file, got {out}")
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name ending in .onnx")
    if out.exists() and not force:
        raise ExportError(f"{out} already exists; pass --force to overwrite it")
    opset = DEFAULT_OPSET if opset is None else int(opset)
    newest = onnx.defs.onnx_opset_version()
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} cannot express the generator (nearest Resize needs opset >= {MIN_OPSET}); "
                          f"use {MIN_OPSET}..{newest}")
    if opset > newest:
        raise ExportError(f"opset {opset} is newer than this onnx package knows ({newest}); use {MIN_OPSET}..{newest}")

    G, info = load_generator(run)
    arch = info.get("arch", "texture")
    if arch != "texture":
        raise ExportError(f"only tileable 'texture' generators can be exported; this run is arch '{arch}'")
    run_path = Path(run)
    name = name or (run_path.name if run_path.is_dir() else run_path.parent.name) or "texgan"
    if not name.strip() or "\n" in name:
        raise ExportError("--name must be a non-empty single line")

    declared = max(int(info.get("receptive_radius_cells", 0)), G.receptive_radius_cells())
    measured = measure_receptive_radius(G, declared)
    if measured > declared:
        raise ExportError(f"the generator's receptive field ({measured} cells) is wider than its declared "
                          f"tiling halo ({declared}); tiled inference would show seams")

    precision = "fp16" if fp16 else "fp32"
    props = _build_metadata(G, info, name, precision, declared, weights_sha256(G))
    meta = parse_metadata(props)

    K = int(getattr(G.spec, "num_classes", 0) or 0)
    model = onnx.load_from_string(_torch_export(_wrapper(G, fp16, wrap_once), G.spec.latent_channels, opset, K))
    model.producer_name = "texgan"
    model.producer_version = props["texgan.version"]
    cond = f" + {CLASS_INPUT_NAME} [batch, {K}] ({', '.join(meta['classes'])})" if K else ""
    model.doc_string = (f"texgan tileable texture generator '{name}': latent [batch, {G.spec.latent_channels}, h, w]"
                        f"{cond} -> texture [batch, {len(info['channels'])}, h*{G.scale}, w*{G.scale}] in [0, 1]. "
                        f"See metadata_props texgan.*")
    model.graph.name = name
    onnx.helper.set_model_props(model, props)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        raise ExportError(f"onnx.checker rejected the exported model: {str(e).splitlines()[0][:200]}") from None
    data = model.SerializeToString()

    report = verify(data, G, meta, FP16_TOLERANCE if fp16 else FP32_TOLERANCE)

    if out.exists() and not force:
        raise ExportError(f"{out} already exists; pass --force to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    report.update({"path": str(out), "bytes": len(data), "opset": opset, "precision": precision, "name": name,
                   "tolerance": FP16_TOLERANCE if fp16 else FP32_TOLERANCE,
                   "receptive_radius_cells": {"declared": declared, "measured": measured},
                   "weights_sha256": props["texgan.weights_sha256"], "seconds": round(time.time() - t0, 2)})
    return report
