"""Blender overhead: `bpy.ops.texgan.generate` time minus pure inference time, same model/size/seed.

    python bench/blender_overhead.py MODEL.onnx SIZE[,SIZE...] REPS OUT.json     (e.g. 1024,4096)

Runs in the bpy module (Blender 5 as a Python module). The add-on is registered from this
repository (`import addon; addon.register()`, as a script would), a plane with a material is the
target, and the operator runs synchronously (EXEC, as a script or `blender -b` calls it). One
warm-up call per size opens the operator's cached session (worker.SESSIONS) and creates the
images; then operator calls and `TextureModel.generate` calls alternate, both on that same
session: a second session would add a second ONNX Runtime thread pool, whose threads spin for
a while after each run and, on a 2-core machine, slow the other session's next run by several
per cent (measured), which is not Blender's doing. The operator also reports its own inference
seconds (job.seconds), which splits its time into inference and Blender-side work (images,
pixel upload, node wiring); encoding the images is timed separately, as saving would do it.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))  # helpers: the same plane-with-a-material scene the operator tests paint


def breakdown(tm, size: int) -> dict:
    """Where the Blender side goes, once, with the add-on's own helpers on one generated texture:
    resolve the model (warm library cache, as on every call after the first), split into maps,
    to flat RGBA (clip + flip rows), new image + foreach_set, and pack (the PNG/EXR encode that
    now happens at save time, not in the operator)."""
    import bpy
    from addon import blender_images, library
    from addon.core.maps import split_maps
    arr = tm.generate(size, size, seed=0)[0]
    t = {"resolve_s": 0.0, "split_s": 0.0, "to_rgba_s": 0.0, "foreach_set_s": 0.0, "pack_s": 0.0}
    library.LIBRARY.find(tm.path)   # warm (the operator's calls have done this already)
    t0 = time.perf_counter()
    library.LIBRARY.find(tm.path)   # what the operator does first with a model path
    t["resolve_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    maps = split_maps(arr, tm.channels)
    t["split_s"] = time.perf_counter() - t0
    for role, a in maps.items():
        colorspace, is_float = blender_images.role_format(role)
        t0 = time.perf_counter()
        flat = blender_images.to_rgba(a)
        t["to_rgba_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        img = bpy.data.images.new(f"bench {role}", size, size, alpha=False, float_buffer=is_float)
        img.colorspace_settings.name = colorspace
        img.pixels.foreach_set(flat)
        img.update()
        t["foreach_set_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        img.file_format = 'OPEN_EXR' if is_float else 'PNG'
        img.pack()
        t["pack_s"] += time.perf_counter() - t0
        bpy.data.images.remove(img)
    return t


def main(argv) -> int:
    model, sizes, reps, out = argv[0], [int(s) for s in argv[1].split(",")], int(argv[2]), Path(argv[3])
    import bpy
    import addon
    from addon import blender_images, operators, worker
    from helpers import plane_with_material

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    plane_with_material("BenchMat")

    job_seconds: list[float] = []
    orig_record = worker.record_run

    def record(job):  # the operator's own inference time for this call
        job_seconds.append(job.seconds)
        return orig_record(job)

    worker.record_run = record
    tm = worker.SESSIONS.get(model, "cpu")   # the session the operator's device='CPU' calls use
    rows = []
    for size in sizes:
        def op():
            r = bpy.ops.texgan.generate(model=model, width=size, height=size, seed=0, target='ACTIVE_MATERIAL',
                                        device='CPU')
            if r != {'FINISHED'}:
                raise RuntimeError(f"operator returned {r}: {operators.STATE['last']}")

        def inference():
            tm.generate(size, size, seed=0)

        op()
        inference()
        t_op, t_inf, t_job = [], [], []
        for r in range(min(reps, 2) if size >= 4096 else reps):   # 4096^2: two rounds (minutes on 2 cores)
            for name in (("op", "inf") if r % 2 == 0 else ("inf", "op")):
                t0 = time.perf_counter()
                if name == "op":
                    job_seconds.clear()
                    op()
                    t_op.append(time.perf_counter() - t0)
                    t_job.append(job_seconds[-1])
                else:
                    inference()
                    t_inf.append(time.perf_counter() - t0)
        med = statistics.median
        row = {"size": size, "reps": len(t_op), "op_s": med(t_op), "inference_s": med(t_inf), "op_inference_s": med(t_job),
               "op_all": t_op, "inference_all": t_inf, "op_inference_all": t_job}
        row["overhead_s"] = row["op_s"] - row["inference_s"]
        row["overhead_pct"] = 100 * row["overhead_s"] / row["inference_s"]
        row["blender_side_s"] = med([a - b for a, b in zip(t_op, t_job)])
        # Paired: each call against its own inference (job.seconds), so run-to-run noise in
        # inference speed (several per cent on a 2-core VM) does not enter the difference.
        row["paired_overhead_pct"] = med([100 * (a - b) / b for a, b in zip(t_op, t_job)])
        # The encode moved to save time: what saving the .blend costs for this generate's images.
        op()
        t0 = time.perf_counter()
        packed = blender_images.pack_pending_images()
        row["pack_at_save_s"] = time.perf_counter() - t0
        row["pack_at_save_images"] = len(packed)
        row["breakdown"] = breakdown(tm, size)
        rows.append(row)
        print(f"blender: {size}^2 op {row['op_s']:.3f}s inference {row['inference_s']:.3f}s "
              f"overhead {row['overhead_pct']:.1f}% (Blender side {row['blender_side_s']:.3f}s; "
              f"pack at save {row['pack_at_save_s']:.3f}s for {row['pack_at_save_images']} images)", flush=True)
    status = operators.STATE["last"]
    out.write_text(json.dumps({"rows": rows, "bpy": bpy.app.version_string, "last_status": status}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
