"""Build installable Blender extension zips of ``addon/`` (``texgan addon build``).

One zip per platform, because ONNX Runtime's wheels differ per platform and the GPU build is large:

=============  ==========================  ===========================================================
platform       ONNX Runtime wheel          why
=============  ==========================  ===========================================================
linux-x64      onnxruntime-gpu             CUDA + CPU providers in one wheel (never both packages)
windows-x64    onnxruntime-gpu             same
macos-arm64    onnxruntime                 no CUDA on macOS; CPU (and CoreML) provider
macos-x64      onnxruntime 1.23.2          last release with Intel macOS wheels (``--platform all``)
=============  ==========================  ===========================================================

Every zip also carries ONNX Runtime's pure-Python requirements (flatbuffers, packaging, protobuf) and
never numpy: Blender ships numpy 1.26 and a second numpy would break it. Wheels are downloaded once
with ``pip download`` into a cache folder (``build/wheels/<platform>/``) and reused.

The zip itself is made by Blender's own ``blender_ext.py build`` (shipped in the ``bpy`` wheel) and
then checked with ``blender_ext.py validate``; a failing check fails the build.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON_DIR = ROOT / "addon"
DEFAULT_CACHE = ROOT / "build" / "wheels"
PYTHON_VERSION = "3.11"  # Blender 4.2 to 5.0 embed Python 3.11
ORT_VERSION = "1.31.1"


@dataclasses.dataclass(frozen=True)
class PlatformSpec:
    package: str  # the ONNX Runtime distribution for this platform
    version: str
    pip_platforms: tuple[str, ...]  # wheel platform tags pip may pick, best first


PLATFORMS: dict[str, PlatformSpec] = {
    "linux-x64": PlatformSpec("onnxruntime-gpu", ORT_VERSION,
                              ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64")),
    "windows-x64": PlatformSpec("onnxruntime-gpu", ORT_VERSION, ("win_amd64",)),
    "macos-arm64": PlatformSpec("onnxruntime", ORT_VERSION, ("macosx_14_0_arm64", "macosx_11_0_arm64")),
    "macos-x64": PlatformSpec("onnxruntime", "1.23.2", ("macosx_13_0_x86_64", "macosx_11_0_x86_64")),
}
DEFAULT_PLATFORMS = ("linux-x64", "windows-x64", "macos-arm64")

# ONNX Runtime's Requires-Dist, minus numpy (Blender's own) and the optional extras. All pure Python.
PURE_REQUIREMENTS = ("flatbuffers==25.12.19", "packaging==26.4", "protobuf==7.36.2")

# What goes into the zip from addon/ (the rest, e.g. __pycache__, stays out).
SOURCE_PATTERNS = ("*.py", "core/*.py", "bake/*.py", "blender_manifest.toml", "LICENSE", "models/*.onnx", "models/*.png", "models/*.md")


class BuildError(ValueError):
    """A build step failed; the message says which and why (one line first)."""


def blender_ext_script() -> Path:
    """Blender's extension command line (build/validate), from the installed ``bpy`` wheel."""
    import importlib.util
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        raise BuildError("Blender's extension validator was not found: install the bpy module "
                         "(pip install -e '.[blender]', Python 3.11) or pass --blender-ext PATH/TO/blender_ext.py")
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise BuildError(f"blender_ext.py not found under {Path(spec.origin).parent}")
    return found[-1]


def manifest_version(addon_dir: Path = ADDON_DIR) -> str:
    return tomllib.loads((addon_dir / "blender_manifest.toml").read_text())["version"]


def _wheel_name_matches(filename: str, requirement: str) -> bool:
    name, _, version = requirement.partition("==")
    dist = re.sub(r"[-_.]+", "_", name).lower()
    parts = filename.split("-")
    return len(parts) >= 5 and parts[0].lower() == dist and parts[1] == version and filename.endswith(".whl")


def _pip_download(requirement: str, dest: Path, platforms: tuple[str, ...] | None) -> None:
    cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--only-binary=:all:",
           "--python-version", PYTHON_VERSION, "--disable-pip-version-check", "-q", "-d", str(dest)]
    for tag in platforms or ():
        cmd += ["--platform", tag]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()
        raise BuildError(f"pip download {requirement} failed: {tail[-1] if tail else 'no output'}")


def platform_wheels(platform: str, cache: Path = DEFAULT_CACHE, download: bool = True) -> list[Path]:
    """The wheels the zip for ``platform`` bundles, downloaded into ``cache/<platform>/`` once."""
    if platform not in PLATFORMS:
        raise BuildError(f"unknown platform {platform!r}; choose from {', '.join(PLATFORMS)} or all")
    spec = PLATFORMS[platform]
    folder = cache / platform
    folder.mkdir(parents=True, exist_ok=True)
    wheels = []
    for requirement, tags in [(f"{spec.package}=={spec.version}", spec.pip_platforms)] + \
                             [(r, None) for r in PURE_REQUIREMENTS]:
        found = sorted(p for p in folder.glob("*.whl") if _wheel_name_matches(p.name, requirement))
        if not found:
            if not download:
                raise BuildError(f"{requirement} for {platform} is not in {folder} and downloads are off")
            print(f"texgan addon build: downloading {requirement} for {platform} ...", flush=True)
            _pip_download(requirement, folder, tags)
            found = sorted(p for p in folder.glob("*.whl") if _wheel_name_matches(p.name, requirement))
            if not found:
                raise BuildError(f"pip download {requirement} gave no wheel in {folder}")
        wheels.append(found[-1])
    if any(w.name.lower().startswith("numpy-") for w in wheels):  # pragma: no cover - a guard for edits above
        raise BuildError("numpy must never be bundled: Blender ships its own")
    return wheels


def _stage(platform: str, wheels: list[Path], stage: Path, addon_dir: Path) -> None:
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for pattern in SOURCE_PATTERNS:
        for src in sorted(addon_dir.glob(pattern)):
            dst = stage / src.relative_to(addon_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    (stage / "wheels").mkdir()
    for wheel in wheels:
        dst = stage / "wheels" / wheel.name
        try:
            os.link(wheel, dst)  # wheels are big; a hard link costs nothing
        except OSError:
            shutil.copy2(wheel, dst)
    manifest = (addon_dir / "blender_manifest.toml").read_text()
    lines = [f'platforms = ["{platform}"]', "wheels = ["] + \
            [f'  "./wheels/{w.name}",' for w in wheels] + ["]", ""]
    # Top-level keys must come before the first [table].
    head, sep, tail = manifest.partition("\n[")
    manifest = head.rstrip("\n") + "\n\n" + "\n".join(lines) + sep + tail
    (stage / "blender_manifest.toml").write_text(manifest)


def _run_blender_ext(script: Path, args: list[str], what: str) -> str:
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "error" in output.lower().split(":")[0]:
        lines = [line for line in output.splitlines() if line.strip()]
        first = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "no output")
        raise BuildError(f"{what} failed (blender_ext.py {args[0]}): {first}\n{output}")
    return output


def validate_zip(zip_path: Path, script: Path | None = None) -> str:
    """Run Blender's own validator on an extension zip; raise BuildError if it fails."""
    return _run_blender_ext(script or blender_ext_script(), ["validate", str(zip_path)], f"validating {zip_path.name}")


def build(out: Path, platforms: list[str] | None = None, cache: Path = DEFAULT_CACHE,
          addon_dir: Path = ADDON_DIR, blender_ext: Path | None = None, download: bool = True,
          stage_root: Path | None = None) -> list[Path]:
    """Build and validate one zip per platform into ``out``; return their paths."""
    platforms = list(platforms or DEFAULT_PLATFORMS)
    if "all" in platforms:
        platforms = list(PLATFORMS)
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise BuildError(f"unknown platform {unknown[0]!r}; choose from {', '.join(PLATFORMS)} or all")
    if not (addon_dir / "blender_manifest.toml").is_file():
        raise BuildError(f"no blender_manifest.toml in {addon_dir}")
    script = Path(blender_ext) if blender_ext else blender_ext_script()
    version = manifest_version(addon_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage_root = stage_root or (ROOT / "build" / "addon_stage")
    zips = []
    for platform in dict.fromkeys(platforms):
        wheels = platform_wheels(platform, cache, download=download)
        stage = stage_root / platform / "texgan"
        _stage(platform, wheels, stage, addon_dir)
        zip_path = out / f"texgan-{version}-{platform.replace('-', '_')}.zip"
        if zip_path.exists():
            zip_path.unlink()
        _run_blender_ext(script, ["build", "--source-dir", str(stage), "--output-filepath", str(zip_path)],
                         f"building {zip_path.name}")
        try:
            validate_zip(zip_path, script)
        except BuildError:
            zip_path.unlink(missing_ok=True)  # never leave an invalid zip behind
            raise
        shutil.rmtree(stage, ignore_errors=True)
        zips.append(zip_path)
    return zips
