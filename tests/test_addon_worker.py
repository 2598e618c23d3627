"""The extension's bpy-free parts: worker thread, cancel, session cache, model library, thumbnails."""
from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from addon import library, worker
from helpers import ProgressWatch


@pytest.fixture(scope="session")
def addon_model(request, tmp_path_factory):
    """A real texgan model: the export engineer's fixture if there is one, else export tiny_run."""
    from pathlib import Path
    try:
        return Path(request.getfixturevalue("tiny_onnx"))
    except pytest.FixtureLookupError:
        pass
    from export.onnx_export import export_run
    out = tmp_path_factory.mktemp("addon_model") / "bricks_tiny.onnx"
    export_run(request.getfixturevalue("tiny_run"), out, name="bricks tiny")
    return out


def test_job_on_a_thread_matches_texture_model_and_reuses_the_session(addon_model):
    from addon.inference import TextureModel
    worker.SESSIONS.clear()
    job = worker.Job(str(addon_model), [worker.Task(5, 24, 40), worker.Task(6, 24, 40)], device="cpu").start()
    assert job.join(60) and job.error is None and not job.cancelled
    assert job.progress == 1.0 and job.device == "CPU" and job.providers == ["CPUExecutionProvider"]
    expected = TextureModel(addon_model, device="cpu").generate(24, 40, seed=5)[0]
    np.testing.assert_allclose(job.raw[5], expected, atol=1e-6)
    assert set(job.results[5]) == {"base_color", "height", "roughness"}
    assert job.results[5]["base_color"].shape == (24, 40, 3) and job.results[5]["height"].shape == (24, 40)
    assert not np.allclose(job.results[5]["height"], job.results[6]["height"])
    first = worker.SESSIONS.get(str(addon_model), "cpu")
    worker.Job(str(addon_model), [worker.Task(1, 8, 8)], device="cpu").run()
    assert worker.SESSIONS.get(str(addon_model), "cpu") is first and len(worker.SESSIONS) == 1


class CancelAfterFirstTile(ProgressWatch):
    """Presses Cancel as soon as the first tile reports progress."""

    def on_progress(self, value):
        if value > 0:
            self.cancel()


def test_cancel_stops_between_tiles_and_returns_nothing(addon_model):
    job = CancelAfterFirstTile(str(addon_model), [worker.Task(0, 64, 64)], device="cpu", tile=16).run()
    assert job.cancelled and job.error is None and job.done.is_set()
    assert not job.results and 0 < job.progress < 1


def test_cancel_before_start(addon_model):
    job = worker.Job(str(addon_model), [worker.Task(0, 16, 16)], device="cpu")
    job.cancel()
    job.start().join(30)
    assert job.cancelled and not job.results


def test_auto_device_falls_back_to_cpu_visibly(addon_model):
    from addon.inference import cuda_unavailable_reason
    reason = cuda_unavailable_reason()
    job = worker.Job(str(addon_model), [worker.Task(0, 8, 8)], device="auto").run()
    assert job.error is None and job.results
    worker.record_run(job)
    report = worker.device_report()
    if job.device == "CUDA":  # a working GPU: used, and said so
        assert reason is None and job.providers[0] == "CUDAExecutionProvider" and job.fallback_reason is None
        assert report["gpu_ok"] is True and report["line"].startswith("Last run: CUDA (CUDAExecutionProvider")
    else:  # on the CPU: the reason is there to show, and it is the one the probe gives
        assert job.device == "CPU" and job.providers == ["CPUExecutionProvider"] and job.fallback_reason
        if reason is not None:
            assert job.fallback_reason == reason
        assert report["gpu_ok"] is False and report["line"] == (
            f"Last run: CPU (CPUExecutionProvider); GPU not used: {job.fallback_reason}")


def test_gpu_only_without_cuda_is_an_error_not_a_silent_cpu_run(addon_model):
    from addon.inference import cuda_unavailable_reason
    if cuda_unavailable_reason() is None:
        pytest.skip("CUDA works here")
    job = worker.Job(str(addon_model), [worker.Task(0, 8, 8)], device="cuda").run()
    assert job.error and "CUDA" in job.error and not job.results


def test_bad_and_missing_models_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    for path in (bad, tmp_path / "missing.onnx"):
        job = worker.Job(str(path), [worker.Task(0, 8, 8)], device="cpu").run()
        assert job.error and "\n" not in job.error and not job.results


def test_library_scans_folders_reads_metadata_and_flags_bad_files(addon_model, tmp_path):
    shutil.copy(addon_model, tmp_path / "bricks.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"garbage")
    (tmp_path / "notes.txt").write_text("not a model")
    lib = library.Library()
    models = {m.path.rsplit("/", 1)[-1]: m for m in lib.scan([str(tmp_path)], include_builtin=False)}
    assert set(models) == {"bricks.onnx", "broken.onnx"}
    good, bad = models["bricks.onnx"], models["broken.onnx"]
    assert good.ok and good.roles == ["base_color", "height", "roughness"] and good.scale and good.name
    assert len(good.channels) == 5 and "trained on" in good.description
    assert not bad.ok and "\n" not in bad.error
    assert lib.find("bricks", [str(tmp_path)]).path == good.path
    assert lib.find(good.name, [str(tmp_path)]).path == good.path
    assert lib.find("nothing-here", [str(tmp_path)]) is None


def count_describe_calls(monkeypatch) -> list:
    """library.describe, recording each path it is called with."""
    calls = []
    real_describe = library.describe
    monkeypatch.setattr(library, "describe", lambda p, builtin=False: calls.append(str(p)) or real_describe(p, builtin))
    return calls


def test_library_find_by_path_reuses_the_scan_cache(addon_model, tmp_path, monkeypatch):
    # describe() opens an ONNX Runtime session: an unchanged file must be described only once.
    path = tmp_path / "bricks.onnx"
    shutil.copy(addon_model, path)
    calls = count_describe_calls(monkeypatch)
    lib = library.Library()
    first = lib.find(str(path))
    assert first.ok and len(calls) == 1
    assert lib.find(str(path)) is first and len(calls) == 1
    lib.scan([str(tmp_path)], include_builtin=False)
    assert len(calls) == 1  # scan and find share the cache
    link = tmp_path / "link.onnx"
    link.symlink_to(path)
    via_link = lib.find(str(link))
    assert len(calls) == 1 and via_link.path == str(link) and via_link.name == first.name


def test_library_find_describes_a_changed_file_again(addon_model, tmp_path, monkeypatch):
    import os
    path = tmp_path / "model.onnx"
    shutil.copy(addon_model, path)
    calls = count_describe_calls(monkeypatch)
    lib = library.Library()
    assert lib.find(str(path)).ok and len(calls) == 1
    path.write_bytes(b"garbage")  # replaced by something else: new size and mtime
    broken = lib.find(str(path))
    assert len(calls) == 2 and not broken.ok
    shutil.copy(addon_model, path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same size, only the mtime moves
    assert lib.find(str(path)).ok and len(calls) == 3
    assert lib.find(str(path)).ok and len(calls) == 3


def test_thumbnail_png_is_written_and_readable(addon_model, tmp_path):
    from PIL import Image
    library.set_thumbnail_dir(str(tmp_path / "thumbs"))
    try:
        info = library.describe(addon_model)
        rgb = np.random.default_rng(0).random((300, 200, 3), dtype=np.float32)
        path = library.remember_thumbnail(info, rgb)
        assert path and info.thumbnail == path
        img = np.asarray(Image.open(path))
        assert img.shape == (100, 67, 3)  # every 3rd pixel: the longer side fits in 128
        np.testing.assert_array_equal(img, (rgb[::3, ::3] * 255 + 0.5).astype(np.uint8))
    finally:
        library.set_thumbnail_dir(None)
