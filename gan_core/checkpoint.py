"""Self-contained checkpoints: one safetensors file, no pickle.

Tensors: generator, EMA generator, discriminator, both optimisers' state and the
RNG states, each under a prefix. Everything else (config, step, channel
meanings, optimiser hyper-parameters) is JSON in the safetensors header
metadata, so a checkpoint is readable without running any untrusted code.
Writes go to a temporary file that is renamed over the old one, so a crash
never leaves a half-written checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CHECKPOINT_NAME = "checkpoint.safetensors"
FORMAT = "texgan-checkpoint/1"


class CheckpointError(ValueError):
    pass


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename onto path (same folder, so the rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, state in sd["state"].items():
        for k, v in state.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.state.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _load_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict, meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + ".state."):
            pid, name = key[len(prefix) + 7:].split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(path: Path, *, G, G_ema, D, opt_g, opt_d, rng: dict[str, torch.Tensor], info: dict) -> None:
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (("G", G), ("G_ema", G_ema), ("D", D)):
        for k, v in module.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
    opt_meta = {}
    for prefix, opt in (("opt_g", opt_g), ("opt_d", opt_d)):
        t, m = _optimizer_tensors(prefix, opt)
        tensors.update(t)
        opt_meta[prefix] = m
    for k, v in rng.items():
        tensors[f"rng.{k}"] = v.contiguous()
    metadata = {"format": FORMAT, "info": json.dumps(info), "optimizers": json.dumps(opt_meta)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and the decoded info dict; raises CheckpointError for anything that is not ours."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a texgan checkpoint")
    info = json.loads(metadata["info"])
    info["_optimizers"] = json.loads(metadata["optimizers"])
    return tensors, info


def module_state(tensors: dict, prefix: str) -> dict:
    p = prefix + "."
    return {k[len(p):]: v for k, v in tensors.items() if k.startswith(p)}


def load_optimizers(tensors: dict, info: dict, opt_g, opt_d) -> None:
    _load_optimizer(opt_g, "opt_g", tensors, info["_optimizers"]["opt_g"])
    _load_optimizer(opt_d, "opt_d", tensors, info["_optimizers"]["opt_d"])
