"""The manifest (one record per job in DIR/manifest/: parameters and sha256 of every output), which
lets a re-run skip finished work and a killed bake resume, and the report (DIR/report.json)."""
from __future__ import annotations

import hashlib
import json
import os

from ..core.files import file_sha256, read_json, write_json
from .recipe import BAKE_FORMAT, safe_name


def manifest_path(out_dir: str, job) -> str:
    return os.path.join(out_dir, "manifest", f"{safe_name(job.scene)}--{safe_name(job.material)}.json")


def outputs_ok(step, params: str, out_dir: str) -> bool:
    if not isinstance(step, dict) or step.get("params") != params or not step.get("outputs"):
        return False
    for o in step["outputs"]:
        p = os.path.join(out_dir, o["path"])
        if not os.path.isfile(p) or file_sha256(p) != o["sha256"]:
            return False
    return True


def params_digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def base_record(baker, job) -> dict:
    record = read_json(manifest_path(baker.out_dir, job)) or {}
    rule = job.rule
    record.update({"key": job.key, "scene": job.scene, "material": job.material, "objects": job.objects,
                   "rule": rule.name, "model": rule.model, "model_sha256": baker.models[rule.model]["sha256"],
                   "seed": job.seed, "width": rule.size[0], "height": rule.size[1], "class": rule.texture_class})
    return record


def finish(baker, job) -> None:
    record = base_record(baker, job)
    record["bakes"] = {k: v for k, v in record.get("bakes", {}).items() if k in job.bakes}
    if not record.get("complete"):
        record["complete"] = True
        write_json(manifest_path(baker.out_dir, job), record)


def build_report(baker, jobs: list, scenes: dict, out_blends: dict, shard, seconds: float) -> dict:
    outputs, pending = [], []
    for job in jobs:
        record = read_json(manifest_path(baker.out_dir, job))
        if not record or not record.get("complete"):
            pending.append(job.key)
            continue
        base = {"scene": job.scene, "material": job.material, "model": record["model"],
                "model_sha256": record["model_sha256"], "seed": record["seed"], "rule": record["rule"],
                "class": record.get("class"), "format": job.rule.format, "bit_depth": job.rule.bit_depth}
        synth = record["synth"]
        for o in synth["outputs"]:
            outputs.append({**base, "kind": "map", "map": o["map"], "path": o["path"], "sha256": o["sha256"],
                            "objects": record["objects"], "width": record["width"], "height": record["height"],
                            "seconds": synth["seconds"]})
        for obj_name, step in sorted(record.get("bakes", {}).items()):
            size = job.rule.bake.size or job.rule.size
            for o in step["outputs"]:
                outputs.append({**base, "kind": "baked", "map": o["map"], "path": o["path"], "sha256": o["sha256"],
                                "object": obj_name, "objects": [obj_name], "width": size[0], "height": size[1],
                                "seconds": step["seconds"]})
    return {"format": BAKE_FORMAT, "recipe": baker.recipe.path, "recipe_sha256": baker.recipe.sha256,
            "shard": f"{shard[0]}/{shard[1]}", "complete": not pending, "pending": pending,
            "errors": baker.errors, "seconds": round(seconds, 3),
            "scenes": [{"scene": s, "source": b, "blend": out_blends[s]} for s, b in scenes.items()],
            "jobs": len(jobs), "outputs": outputs}
