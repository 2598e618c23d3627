"""`texgan train` and `texgan eval` (`texgan demo` is in demo.py)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from gan_core.config import TrainConfig

# Flags shown first in --help, with their help text; every other TrainConfig field is a flag too.
MAIN_FLAGS = {
    "out": "run directory (checkpoints, samples, logs)",
    "steps": "generator steps to train (default %(default)s)",
    "max_minutes": "stop cleanly after this many minutes of this invocation (0 = no limit)",
    "size": "training crop size in pixels (default %(default)s)",
    "batch": "batch size (default %(default)s)",
    "loss": "GAN objective: auto (default: wgan-gp; nonsat for --arch dcgan), wgan-gp, nonsat, hinge, minimax, wgan",
    "arch": "texture (tileable, default) or dcgan (fixed-size, for comparison)",
    "device": "auto (default), cpu or cuda",
    "seed": "random seed; the same seed and flags repeat the same run",
    "derive_maps": "from a photo, also derive height and roughness maps and train a material model (saved in RUN/derived)",
    "resume": "continue the run in --out from its checkpoint (same step, optimiser and EMA)",
}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    order = list(MAIN_FLAGS) + [n for n in fields if n not in MAIN_FLAGS and n != "data"]
    for name in order:
        default = getattr(defaults, name)
        flag = "--" + name.replace("_", "-")
        help_text = MAIN_FLAGS.get(name, f"(default {default})")
        # default=None marks "not given", so TOML values are not overridden by flag defaults.
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(default, tuple):
            kind = type(default[0])
            p.add_argument(flag, type=kind, nargs="+", default=None, help=help_text)
        else:
            p.add_argument(flag, type=type(default), default=None, help=help_text % {"default": default} if "%(" in help_text else help_text)


def register(sub) -> None:
    p = sub.add_parser("train", help="train a texture generator from an exemplar image or folder",
                       description="Train a tileable texture GAN. Every flag can also be set in --config FILE.toml "
                                   "(same names, dashes or underscores); flags win over the file.")
    p.add_argument("data", nargs="?", help="exemplar image, folder of images, or folder of material maps")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with any of the flags below")
    _add_config_flags(p)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="measure texture quality (SWD to the exemplar, seams, diversity) as JSON")
    p.add_argument("source", help="a run directory or a texgan .onnx model")
    p.add_argument("--exemplar", required=True, help="the exemplar image or material folder to compare with")
    p.add_argument("--size", type=int, default=256, help="side of each generated texture (default 256)")
    p.add_argument("--count", type=int, default=8, help="textures to generate (default 8)")
    p.add_argument("--crop", type=int, default=0,
                   help="crop size compared by SWD (default 0 = auto: 128 px where the exemplar holds two disjoint halves of it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--class", dest="class_", metavar="CLASS", default=None,
                   help="conditional models (required there): a class name or index, or a blend such as a:0.5,b:0.5")
    p.add_argument("--out", help="also write the JSON to this file")
    p.set_defaults(handler=cmd_eval)


def cmd_train(args) -> int:
    from gan_core.config import build_config
    from gan_core.checkpoint import CHECKPOINT_NAME
    from gan_core.train import train
    values = {name: getattr(args, name) for name in TrainConfig().to_dict() if name != "data"}
    values["data"] = args.data
    cfg = build_config(values, args.config)
    if not cfg.data:
        raise ValueError("no exemplar given: pass DATA or set data = \"...\" in --config")
    if not cfg.out:
        raise ValueError("no run directory given: pass --out RUN or set out = \"...\" in --config")
    diverged = None
    try:
        result = train(cfg, show_progress=True)
    except RuntimeError as ex:  # the trainer's NaN/Inf stop: the good checkpoint is kept, the NaN state beside it
        if not str(ex).startswith("training diverged"):
            raise
        diverged = str(ex)
    if diverged:  # outside the except: the progress bar has been closed, so the error is the last line
        kept = Path(cfg.out) / CHECKPOINT_NAME
        where = f"the last good checkpoint is kept in {cfg.out}" if kept.exists() else "no good checkpoint was written yet"
        print(f"texgan: error: {diverged}; {where}", file=sys.stderr)
        return 1
    print(f"texgan: {result.stopped_by}: step {result.step} after {result.seconds / 60:.1f} min; run in {result.run}")
    return 130 if result.stopped_by == "interrupted" else 0


def _class_error(classes, choice) -> None:
    if not classes and choice is not None:
        raise ValueError("--class given but the model is not conditional (it has no classes)")
    if classes and choice is None:
        raise ValueError(f"the model is conditional: pass --class with one of its classes "
                         f"({', '.join(f'{i}={c}' for i, c in enumerate(classes))}) or a blend like "
                         f"{classes[0]}:0.5,{classes[-1]}:0.5")


def generate_textures(source: str, size: int, count: int, seed: int, class_=None):
    """[count, C, size, size] float tensor in [0, 1] from a run directory (PyTorch) or an .onnx model.
    class_: for conditional models, a class name, index, "a:0.5,b:0.5" blend or weights."""
    import torch
    from addon.inference import class_weights
    if str(source).endswith(".onnx"):
        from addon.inference import TextureModel
        model = TextureModel(source, device="cpu")
        _class_error(model.classes, class_)
        arr = model.generate(size, size, seed=seed, count=count, class_weights=class_)
        return torch.from_numpy(arr)
    from gan_core.sample import generate, load_generator
    G, info = load_generator(source)
    classes = list(info.get("classes") or []) if getattr(G.spec, "num_classes", 0) else []
    _class_error(classes, class_)
    if not classes:
        return (generate(G, size, size, count=count, seed=seed) + 1) / 2
    row = torch.from_numpy(class_weights(classes, class_))
    s = G.scale
    lh, lw = -(-size // s), -(-size // s)
    with torch.no_grad():  # as gan_core.sample.generate, with the class row for every texture
        z = G.sample_latent(count, lh, lw, torch.Generator().manual_seed(seed))
        y = G(z, row.expand(count, -1).to(z))[:, :, :size, :size].float().cpu()
    return (y + 1) / 2


def evaluate_source(source: str, exemplar: str, size: int = 256, count: int = 8, crop: int = 0, seed: int = 0,
                    class_=None) -> dict:
    from gan_core.data import load_exemplars
    from gan_core.metrics import auto_crop, evaluate
    ex = load_exemplars(exemplar)
    real = (ex.images[0] + 1) / 2
    crop = crop or auto_crop(*real.shape[1:])
    fakes = generate_textures(source, size, count, seed, class_)
    if fakes.shape[1] != real.shape[0]:
        raise ValueError(f"the model paints {fakes.shape[1]} channels but the exemplar has {real.shape[0]} ({', '.join(ex.channels)})")
    report = evaluate(fakes, real, crop=crop, seed=seed)
    report.update({"source": str(source), "exemplar": str(exemplar), "size": size, "count": count})
    if class_ is not None:
        report["class"] = class_ if isinstance(class_, (str, int)) else str(class_)
    return report


def cmd_eval(args) -> int:
    report = evaluate_source(args.source, args.exemplar, args.size, args.count, args.crop, args.seed,
                             getattr(args, "class_", None))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0
