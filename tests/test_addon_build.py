"""Packaging rules of the Blender extension: manifest, imports, failing validation fails the build."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addon"


def test_manifest_contract():
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text())
    assert manifest["id"] == "texgan" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    assert "wheels" not in manifest  # the build adds them per platform


def test_no_bl_info_and_only_relative_imports_inside_the_extension():
    for path in ADDON.rglob("*.py"):  # core/ and bake/ too (the import rules are in test_import_rules.py)
        text = path.read_text()
        assert "bl_info" not in text, path
        assert not re.search(r"^\s*(from|import)\s+(addon|texgan|gan_core|export)\b", text, re.M), path


def test_validator_rejects_a_broken_zip(tmp_path):
    pytest.importorskip("bpy")
    from texgan.addon_build import BuildError, validate_zip
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("__init__.py", "")
    with pytest.raises(BuildError, match="validating bad.zip failed"):
        validate_zip(bad)


def test_invalid_manifest_fails_the_build_loudly(tmp_path):
    pytest.importorskip("bpy")
    from texgan.addon_build import BuildError, build
    src = tmp_path / "addon"
    shutil.copytree(ADDON, src, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = src / "blender_manifest.toml"
    manifest.write_text(re.sub(r'tagline = ".*"', 'tagline = "' + "x" * 80 + '"', manifest.read_text()))
    with pytest.raises(BuildError, match="tagline"):
        build(tmp_path / "dist", platforms=["linux-x64"], addon_dir=src, stage_root=tmp_path / "stage")
    assert not list((tmp_path / "dist").glob("*.zip"))


def test_cli_rejects_unknown_platform_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "texgan.cli", "addon", "build", "--platform", "amiga"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown platform 'amiga'" in proc.stderr
