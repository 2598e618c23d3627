"""Bake recipes: the TOML schema, its checks (one-line RecipeError saying what and where), seeds and shards.

See docs/bake.md for the format. Pure Python: no bpy.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re

from ..core.format import DEFAULT_BUMP_STRENGTH, DEFAULT_SIZE, DEFAULT_TEXTURE_SCALE, MAX_SIDE
from ..core.maps import DEFAULT_NORMAL_STRENGTH
from ..core.seeds import SEED_FORMAT, SEED_POLICIES, derive_seed  # noqa: F401  (derive_seed: bake's API)

RECIPE_VERSION = 1
BAKE_FORMAT = SEED_FORMAT  # manifests and reports carry the same format name as the seed rule
FORMATS = {"png": (8, 16), "exr": (16, 32)}
COORDINATES = ("UV", "BOX")
UV_POLICIES = ("error", "smart_project")
# Cycles bake passes per map: (bake type, extra operator arguments).
BAKE_PASSES = {"base_color": ("DIFFUSE", {"pass_filter": {'COLOR'}}),
               "roughness": ("ROUGHNESS", {}),
               "normal": ("NORMAL", {"normal_space": 'TANGENT'})}
DEFAULT_MAPS = ("base_color", "normal", "roughness", "height")

TOP_KEYS = ("version", "seed", "device", "output", "defaults", "rule")
OUTPUT_KEYS = ("blend", "overwrite_source", "pack_images")
SETTING_KEYS = ("model", "class", "size", "seed_policy", "seed", "maps", "format", "bit_depth", "texture_scale",
                "bump_strength", "normal_strength", "coordinates", "bake")
RULE_KEYS = ("name", "objects", "materials") + SETTING_KEYS
BAKE_KEYS = ("maps", "size", "margin", "samples", "uv")


class RecipeError(ValueError):
    """The recipe (or what it asks of the scenes) is wrong; one line saying what and where."""


class BakeError(ValueError):
    """A bake could not be carried out; one line."""


# ========================================================================================
# Recipe
# ========================================================================================

@dataclasses.dataclass
class BakeSpec:
    maps: tuple
    size: tuple | None          # (width, height); None: the rule's size
    margin: int
    samples: int
    uv: str


@dataclasses.dataclass
class Rule:
    index: int
    name: str
    kind: str                   # "objects" | "materials"
    patterns: tuple
    model: str                  # absolute path
    size: tuple                 # (width, height)
    seed_policy: str
    seed: int
    maps: tuple
    format: str
    bit_depth: int
    texture_scale: float
    bump_strength: float
    normal_strength: float
    coordinates: str
    bake: BakeSpec | None
    texture_class: str | None = None   # conditional models: a class name, an index ("0") or "a:0.5,b:0.5"
    class_from_defaults: bool = False  # where 'class' was set, for error messages

    @property
    def label(self) -> str:
        return f"rule {self.index + 1} ('{self.name}')"


@dataclasses.dataclass
class Recipe:
    path: str
    sha256: str
    seed: int
    device: str
    blend: str
    overwrite_source: bool
    pack_images: bool
    rules: list


def _where(path, key):
    return f"{os.path.basename(path)}: {key}"


def _check_keys(table, allowed, path, where):
    if not isinstance(table, dict):
        raise RecipeError(f"{_where(path, where)} must be a table")
    unknown = [k for k in table if k not in allowed]
    if unknown:
        prefix = f"{where}." if where else ""
        raise RecipeError(f"{_where(path, prefix + unknown[0])}: unknown key (allowed here: {', '.join(allowed)})")


def _int(value, what, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecipeError(f"{what} must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise RecipeError(f"{what} must be from {lo} to {hi}, got {value}")
    return value


def _num(value, what, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecipeError(f"{what} must be a number, got {value!r}")
    if not lo <= float(value) <= hi:
        raise RecipeError(f"{what} must be from {lo} to {hi}, got {value}")
    return float(value)


def _choice(value, what, choices):
    if value not in choices:
        raise RecipeError(f"{what} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def _size(value, what):
    if isinstance(value, list):
        if len(value) != 2:
            raise RecipeError(f"{what} must be one number or [width, height], got {value!r}")
        return (_int(value[0], f"{what} width", 1, MAX_SIDE), _int(value[1], f"{what} height", 1, MAX_SIDE))
    side = _int(value, what, 1, MAX_SIDE)
    return (side, side)


def _names(value, what):
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise RecipeError(f"{what} must be a non-empty string or list of strings, got {value!r}")
    return tuple(items)


def _bool(value, what):
    if not isinstance(value, bool):
        raise RecipeError(f"{what} must be true or false, got {value!r}")
    return value




def _bake_spec(value, path, where) -> BakeSpec | None:
    if value is False:
        return None
    if value is True:
        value = {}
    _check_keys(value, BAKE_KEYS, path, where)
    w = _where(path, where)
    maps = _names(value.get("maps", list(BAKE_PASSES)), f"{w}.maps")
    for m in maps:
        _choice(m, f"{w}.maps entry", tuple(BAKE_PASSES))
    size = _size(value["size"], f"{w}.size") if "size" in value else None
    return BakeSpec(maps=tuple(dict.fromkeys(maps)), size=size,
                    margin=_int(value.get("margin", 16), f"{w}.margin", 0, 256),
                    samples=_int(value.get("samples", 1), f"{w}.samples", 1, 4096),
                    uv=_choice(value.get("uv", "error"), f"{w}.uv", UV_POLICIES))


def load_recipe(path) -> Recipe:
    """Read and check a recipe; RecipeError (one line) on anything wrong. Model files must exist."""
    import tomllib
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise RecipeError(f"recipe not found: {path}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"{os.path.basename(path)}: not valid TOML ({e})") from None
    base = os.path.dirname(path)
    _check_keys(data, TOP_KEYS, path, "")
    version = _int(data.get("version", RECIPE_VERSION), _where(path, "version"), 1, 10 ** 6)
    if version != RECIPE_VERSION:
        raise RecipeError(f"{_where(path, 'version')}: this texgan reads recipe version {RECIPE_VERSION}, got {version}")
    seed = _int(data.get("seed", 0), _where(path, "seed"), 0, 2 ** 31 - 1)
    device = _choice(data.get("device", "auto"), _where(path, "device"), ("auto", "cpu", "cuda"))
    output = data.get("output", {})
    _check_keys(output, OUTPUT_KEYS, path, "output")
    blend = output.get("blend", "{scene}_texgan.blend")
    if not isinstance(blend, str) or not blend.endswith(".blend") or "{scene}" not in blend:
        raise RecipeError(f"{_where(path, 'output.blend')} must be a file name ending in .blend that contains "
                          f"{{scene}}, got {blend!r}")
    defaults = data.get("defaults", {})
    _check_keys(defaults, SETTING_KEYS, path, "defaults")
    rules_raw = data.get("rule")
    if rules_raw is None:
        raise RecipeError(f"{os.path.basename(path)}: no [[rule]] tables; add at least one rule")
    if not isinstance(rules_raw, list):
        raise RecipeError(f"{_where(path, 'rule')} must be an array of tables ([[rule]])")
    rules = []
    for i, r in enumerate(rules_raw):
        where = f"rule[{i + 1}]"
        _check_keys(r, RULE_KEYS, path, where)
        w = _where(path, where)
        merged = {**defaults, **r}
        kinds = [k for k in ("objects", "materials") if k in r]
        if len(kinds) != 1:
            raise RecipeError(f"{w}: give exactly one of 'objects' or 'materials' (glob patterns)")
        kind = kinds[0]
        patterns = _names(r[kind], f"{w}.{kind}")
        name = r.get("name", ", ".join(patterns))
        if not isinstance(name, str):
            raise RecipeError(f"{w}.name must be a string")
        if "model" not in merged:
            raise RecipeError(f"{w}: no model (set 'model' in the rule or in [defaults])")
        model = merged["model"]
        if not isinstance(model, str) or not model:
            raise RecipeError(f"{w}.model must be a path to a .onnx file")
        model = os.path.normpath(os.path.join(base, os.path.expanduser(model)))
        if not os.path.isfile(model):
            raise RecipeError(f"{w}.model: model file not found: {model}")
        size = _size(merged.get("size", DEFAULT_SIZE), f"{w}.size")
        policy = _choice(merged.get("seed_policy", "per_material"), f"{w}.seed_policy", SEED_POLICIES)
        if policy == "per_object" and kind == "materials":
            raise RecipeError(f"{w}: seed_policy 'per_object' needs an 'objects' rule (a material rule "
                              "paints one texture per material)")
        fmt = _choice(str(merged.get("format", "png")).lower(), f"{w}.format", tuple(FORMATS))
        bits = _int(merged.get("bit_depth", 8 if fmt == "png" else 16), f"{w}.bit_depth", 1, 32)
        if bits not in FORMATS[fmt]:
            raise RecipeError(f"{w}.bit_depth: {fmt.upper()} takes {' or '.join(map(str, FORMATS[fmt]))}, got {bits}")
        maps = _names(merged.get("maps", list(DEFAULT_MAPS)), f"{w}.maps")
        texture_class = merged.get("class")
        if texture_class is not None and (not isinstance(texture_class, str) or not texture_class.strip()):
            key = f"{where}.class" if "class" in r else "defaults.class"
            raise RecipeError(f"{_where(path, key)} must be a string: a class name, an index in quotes (\"0\") or a "
                              f"blend like \"bricks:0.5,moss:0.5\"; got {texture_class!r}")
        bake = _bake_spec(merged["bake"], path, f"{where}.bake") if "bake" in merged else None
        if "bake" in r and "bake" in defaults and isinstance(r["bake"], dict) and isinstance(defaults["bake"], dict):
            bake = _bake_spec({**defaults["bake"], **r["bake"]}, path, f"{where}.bake")
        rules.append(Rule(
            index=i, name=name, kind=kind, patterns=patterns, model=model, size=size, seed_policy=policy,
            seed=_int(merged.get("seed", seed), f"{w}.seed", 0, 2 ** 31 - 1),
            maps=tuple(dict.fromkeys(maps)), format=fmt, bit_depth=bits,
            texture_scale=_num(merged.get("texture_scale", DEFAULT_TEXTURE_SCALE), f"{w}.texture_scale", 1e-4, 1e4),
            bump_strength=_num(merged.get("bump_strength", DEFAULT_BUMP_STRENGTH), f"{w}.bump_strength", 0.0, 1.0),
            normal_strength=_num(merged.get("normal_strength", DEFAULT_NORMAL_STRENGTH), f"{w}.normal_strength", 0.0, 1000.0),
            coordinates=_choice(str(merged.get("coordinates", "UV")).upper(), f"{w}.coordinates", COORDINATES),
            bake=bake, texture_class=texture_class, class_from_defaults="class" in defaults and "class" not in r))
    return Recipe(path=path, sha256=hashlib.sha256(raw).hexdigest(), seed=seed, device=device, blend=blend,
                  overwrite_source=_bool(output.get("overwrite_source", False), _where(path, "output.overwrite_source")),
                  pack_images=_bool(output.get("pack_images", False), _where(path, "output.pack_images")),
                  rules=rules)


def safe_name(name: str) -> str:
    """A name as a portable file name part: letters, digits, '.', '-', '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "unnamed"


def parse_shard(text) -> tuple[int, int]:
    """'i/N' (1-based i) -> (i, N)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text or "1/1"))
    if not m:
        raise BakeError(f"--shard must look like i/N (e.g. 2/8), got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise BakeError(f"--shard {text}: shards are numbered 1 to N (N >= 1)")
    return i, n


def shard_jobs(jobs: list, shard: tuple[int, int]) -> list:
    """Jobs of shard (i, N): every N-th job of the list sorted by key, starting at the (i-1)-th."""
    i, n = shard
    ordered = sorted(jobs, key=lambda j: j.key)
    return [j for k, j in enumerate(ordered) if k % n == i - 1]
