"""The benchmark helpers count and compare correctly (no timing is asserted: speed lives in bench/)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def test_conv_macs_per_pixel_matches_hand_count():
    from gan_core.models import GeneratorSpec, TextureGenerator
    from synthesis import conv_macs_per_pixel
    spec = GeneratorSpec(local_channels=2, global_channels=1, periodic_channels=1, out_channels=3, widths=(8, 4))
    got = conv_macs_per_pixel(TextureGenerator(spec))["macs_per_pixel"]
    # scale 2: block 0 at 1/4 of the pixels (4->8, 8->8), block 1 at full res (8->4, 4->4), to_texture 4->3
    want = (4 * 8 * 9 + 8 * 8 * 9) / 4 + (8 * 4 * 9 + 4 * 4 * 9) + 4 * 3 * 9
    assert abs(got - want) < 1e-9


def test_dcgan_macs_transposed_convs():
    from train_speed import dcgan_macs
    m = dcgan_macs()
    # G: 100->512 (1x1 -> 4x4), then three 4x-area steps of 16*cin*cout*in_area, then 64->3 at 32x32 input
    g = 100 * 512 * 16 + 16 * (512 * 256 * 16 + 256 * 128 * 64 + 128 * 64 * 256) + 64 * 3 * 16 * 1024
    assert m["G_macs"] == g
    assert 0 < m["predicted_ratio"] < 1


def test_interleave_alternates_and_rotates():
    from common import interleave
    calls = []
    out = interleave({"a": lambda: calls.append("a") or 1.0, "b": lambda: calls.append("b") or 2.0}, reps=2, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a"]
    assert out == {"a": [1.0, 1.0], "b": [2.0, 2.0]}


def test_report_renders_partial_results():
    """Sections measured by different commands each name theirs; missing sections say so."""
    import run_all
    mem = {"rows": [{"kind": "rgb", "size": 16384, "dtype": "uint8", "channels": 3, "peak_mb": 1050.0,
                     "result_mb": 768.0, "seconds": 400.0}],
           "_section": {"command": "run_all.py --only memory", "load_avg_before": 0.1, "load_avg_after": 0.2}}
    text = run_all.report({"machine": {"cpu": "x"}, "memory": mem}, quick=True)
    assert "# Benchmarks" in text and "run_all.py --only memory" in text
    assert "rgb (3 ch, uint8): 1.03 GB | **met**" in text     # the 16384² target row, from the measured row
    assert "| 4096² in < 0.2 s on an H100 | not measured" in text
