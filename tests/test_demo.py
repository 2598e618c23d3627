"""`texgan demo` runs the whole flow and leaves every promised file (a very short training budget)."""
import json

from texgan.cli import main


def test_demo_writes_everything_and_reruns_only_with_force(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--minutes", "0.05", "--device", "cpu"]) == 0
    for name in ["run/checkpoint.safetensors", "run/loss.png", "model.onnx", "texture_basecolor.png",
                 "texture_height.png", "texture_roughness.png", "texture_normal.png", "texture_tiled_2x2.png",
                 "eval.json", "texgan_demo.blend"]:
        assert (out / name).is_file(), name
    report = json.loads((out / "eval.json").read_text())
    assert {"swd", "swd_floor", "swd_ratio", "seam_ratio", "diversity"} <= set(report)
    (out / "mine.txt").write_text("not the demo's")
    capsys.readouterr()
    assert main(["demo", "--out", str(out), "--minutes", "0.05"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "not the demo's"  # --force never removes what the demo did not write
