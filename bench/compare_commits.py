"""Two commits side by side on what users run: `texgan generate`, `texgan bake`, the Blender operator and `texgan train`.

    .venv/bin/python bench/compare_commits.py OLD NEW [--rounds 5] [--size 1024] [--out FILE.json]
                                              [--results bench/results.json] [--tasks generate,bake,operator,train]

--results stores the comparison as the "commits" section of make bench's results, so
`bench/run_all.py --report` writes it into docs/benchmarks.md.

Why: a restructuring (issue #12) must leave speed and output unchanged. Each commit is checked
out into a temporary git worktree and run with this checkout's virtual environment; every task
is one fresh process (start-up included, as a user or a farm pays it), the two commits
alternate within each round (order swapped every round), and medians are compared. The
outputs of the two commits are compared byte for byte as well. Same model, size, seed and
scene for both: the starter model `addon/models/bricks.onnx` of this checkout. `train` is
`texgan train` with the default settings for --train-steps steps on the embedded cobbles exemplar
(what `make demo` trains), start-up and the final checkpoint included; its outputs are not compared
(a change to how training computes may round differently).
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLI = "import sys; from texgan.cli import main; sys.exit(main(sys.argv[1:]))"
OPERATOR = """
import sys, bpy
import addon
bpy.ops.wm.read_factory_settings(use_empty=True)
addon.register()
bpy.ops.mesh.primitive_plane_add()
obj = bpy.context.object
mat = bpy.data.materials.new("Bench")
if mat.node_tree is None:
    mat.use_nodes = True
obj.data.materials.append(mat)
bpy.context.view_layer.objects.active = obj
size = int(sys.argv[2])
r = bpy.ops.texgan.generate(model=sys.argv[1], width=size, height=size, seed=0)
assert r == {'FINISHED'}, r
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[3])
"""
SCENE = """
import sys, bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
for i, name in enumerate(("Brick_A", "Brick_B", "Stone")):
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:
        mat.use_nodes = True
    bpy.ops.mesh.primitive_cube_add(location=(3 * i, 0, 0))
    bpy.context.object.data.materials.append(mat)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""
RECIPE = """version = 1
seed = 7
[defaults]
size = {size}
format = "png"
bit_depth = 16
maps = ["base_color", "normal", "roughness", "height"]
[[rule]]
name = "all"
materials = "*"
model = "{model}"
"""


def worktree(commit: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
                   check=True, capture_output=True)
    return where


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"compare_commits: {' '.join(cmd[:4])} failed in {cwd}: {(p.stderr or p.stdout).strip()[-400:]}")
    return dt


TASKS = ("generate", "bake", "operator", "train")


def tasks(tree: Path, work: Path, model: Path, scene: Path, recipe: Path, size: int, tag: str, train_steps: int) -> dict:
    """name -> (command, output to compare) for one commit and one round."""
    py = sys.executable
    out = work / tag
    return {
        "train": ([py, "-c", CLI, "train", str(ROOT / "gan_core" / "exemplars" / "cobbles"), "--out", str(out / "run"),
                   "--steps", str(train_steps), "--seed", "0"], None),
        "generate": ([py, "-c", CLI, "generate", str(model), "--size", str(size), "--out", str(out / "gen" / "gen.png")],
                     out / "gen"),
        "bake": ([py, "-c", CLI, "bake", str(scene), "--recipe", str(recipe), "--out", str(out / "baked")],
                 out / "baked"),
        "operator": ([py, "-c", OPERATOR, str(model), str(size), str(out / "op.blend")], None),
    }


def same_outputs(a: Path, b: Path) -> bool:
    """Every map file of two output folders byte-identical (.blend and the JSON report hold times)."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.suffix != ".blend" and p.suffix != ".json")
    return bool(files) and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--out", default="")
    ap.add_argument("--results", default="", help="merge into this bench results file as section 'commits'")
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)}")
    ap.add_argument("--train-steps", type=int, default=150)
    args = ap.parse_args()
    names = [t for t in args.tasks.split(",") if t]
    if not names or any(t not in TASKS for t in names):
        ap.error(f"--tasks takes a comma-separated list from {', '.join(TASKS)}")
    model = ROOT / "addon" / "models" / "bricks.onnx"
    t_start, load_start = time.time(), round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="texgan-compare-") as tmp:
        tmp = Path(tmp)
        trees = {}
        try:
            for label, commit in (("old", args.old), ("new", args.new)):
                trees[label] = worktree(commit, tmp / f"tree-{label}")
            scene = tmp / "scene.blend"
            timed([sys.executable, "-c", SCENE, str(scene)], ROOT)
            recipe = tmp / "recipe.toml"
            recipe.write_text(RECIPE.format(size=args.size // 2, model=model.as_posix()))
            times = {name: {"old": [], "new": []} for name in names}
            same = {}
            for r in range(args.rounds + 1):     # round 0 warms the caches and is not counted
                order = ("old", "new") if r % 2 else ("new", "old")
                for name in times:
                    outs = {}
                    for label in order:
                        cmd, output = tasks(trees[label], tmp, model, scene, recipe, args.size, f"{label}{r}",
                                            args.train_steps)[name]
                        (tmp / f"{label}{r}" / "gen").mkdir(parents=True, exist_ok=True)
                        dt = timed(cmd, trees[label])
                        if r:
                            times[name][label].append(dt)
                        outs[label] = output
                    if outs["old"] is not None:
                        same[name] = same.get(name, True) and same_outputs(outs["old"], outs["new"])
                print(f"round {r}: " + ", ".join(f"{n} {times[n]['new'][-1] / times[n]['old'][-1]:.3f}x"
                                                  for n in times if r), flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    result = {"old": args.old, "new": args.new, "rounds": args.rounds, "size": args.size, "train_steps": args.train_steps,
              "load_avg": os.getloadavg()[0], "same_bytes": same, "tasks": {}}
    print(f"{'task':10} {'old s':>8} {'new s':>8} {'new/old':>8}  spread of per-round ratios")
    for name, t in times.items():
        old, new = statistics.median(t["old"]), statistics.median(t["new"])
        ratios = [n / o for n, o in zip(t["new"], t["old"])]
        result["tasks"][name] = {"old_s": old, "new_s": new, "ratio": new / old,
                                 "ratio_min": min(ratios), "ratio_max": max(ratios)}
        print(f"{name:10} {old:8.3f} {new:8.3f} {new / old:8.3f}  {min(ratios):.3f}-{max(ratios):.3f}")
    print("same bytes:", same)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.results:
        path = Path(args.results)
        stored = json.loads(path.read_text()) if path.exists() else {}
        cmd = " ".join(["bench/compare_commits.py", args.old, args.new, "--rounds", str(args.rounds), "--size", str(args.size)]
                       + (["--tasks", args.tasks] if names != list(TASKS) else [])
                       + (["--train-steps", str(args.train_steps)] if "train" in names else []))
        stored["commits"] = {**result, "_section": {"command": f".venv/bin/python {cmd}", "commit": args.new,
                                                    "load_avg_before": load_start, "load_avg_after": round(result["load_avg"], 2),
                                                    "seconds": round(time.time() - t_start, 1)}}
        path.write_text(json.dumps(stored, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
