"""Headless batch baking: a TOML recipe -> synthesised maps wired into many .blend files.

One code path, two ways in (both run :func:`run_bake` inside Blender's Python):

* ``texgan bake SCENE.blend [MORE.blend ...] --recipe R.toml --out DIR`` (the ``bpy`` module), and
* ``blender -b [SCENE.blend] -P <addon>/bake.py -- [MORE.blend ...] --recipe R.toml --out DIR``
  (a Blender binary; this file finds its own package, the installed extension or a source tree).

This module belongs to the extension, so it imports only the standard library, numpy and its
sibling modules (relative imports): ``inference`` (ONNX Runtime, bpy-free), ``maps``, ``nodes``
(the add-on's own material wiring) and ``blender_images``. Images are written with Blender's
own image writer (PNG 8/16-bit, OpenEXR half/float), so nothing beyond Blender is needed.

Work is cut into *jobs*, one per (scene, material): a material shared by several objects is
synthesised once. Every output is written to a temporary name and renamed into place; each job
keeps a record in ``DIR/manifest/`` (parameters + sha256 of every output), so a re-run skips
finished work and a killed bake resumes. ``--shard i/N`` takes every N-th job of the sorted
job list. ``DIR/report.json`` lists every output. See docs/bake.md.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
import re
import socket
import sys
import time

RECIPE_VERSION = 1
BAKE_FORMAT = "texgan-bake/1"
MAX_SIDE = 16384
SEED_POLICIES = ("fixed", "per_object", "per_material")
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


def file_sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


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
        size = _size(merged.get("size", 1024), f"{w}.size")
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
            texture_scale=_num(merged.get("texture_scale", 1.0), f"{w}.texture_scale", 1e-4, 1e4),
            bump_strength=_num(merged.get("bump_strength", 0.5), f"{w}.bump_strength", 0.0, 1.0),
            normal_strength=_num(merged.get("normal_strength", 4.0), f"{w}.normal_strength", 0.0, 1000.0),
            coordinates=_choice(str(merged.get("coordinates", "UV")).upper(), f"{w}.coordinates", COORDINATES),
            bake=bake, texture_class=texture_class, class_from_defaults="class" in defaults and "class" not in r))
    return Recipe(path=path, sha256=hashlib.sha256(raw).hexdigest(), seed=seed, device=device, blend=blend,
                  overwrite_source=_bool(output.get("overwrite_source", False), _where(path, "output.overwrite_source")),
                  pack_images=_bool(output.get("pack_images", False), _where(path, "output.pack_images")),
                  rules=rules)


def derive_seed(seed: int, kind: str, name: str) -> int:
    """Stable 31-bit seed from the recipe seed and a name (sha256; never Python's salted hash())."""
    digest = hashlib.sha256(f"{BAKE_FORMAT}\0{kind}\0{name}\0{seed}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


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


# ========================================================================================
# Planning (reads the open .blend; changes nothing)
# ========================================================================================

@dataclasses.dataclass
class Job:
    key: str                   # "<scene>:<material>" (unique, sort key for sharding)
    scene: str
    blend: str                 # source .blend (absolute)
    material: str              # the material that receives the maps (may be created: see create)
    create: str | None         # None: existing; "new": new material; "copy:<name>": copy of <name>
    objects: list
    rule: Rule
    seed: int
    maps: dict = dataclasses.field(default_factory=dict)     # map -> absolute output path
    bakes: dict = dataclasses.field(default_factory=dict)    # object -> {map: absolute path}
    smart_uv: list = dataclasses.field(default_factory=list)  # objects that get a Smart UV Project


def _mesh_objects():
    import bpy
    return sorted((o for o in bpy.data.objects if o.type == 'MESH' and o.users_scene), key=lambda o: o.name)


def _ext(rule: Rule) -> str:
    return ".png" if rule.format == "png" else ".exr"


def plan_scene(recipe: Recipe, scene: str, blend: str, out_dir: str, matched: dict, models: dict) -> list:
    """The jobs of the open .blend. ``matched[rule.index]`` counts pattern matches over all scenes."""
    objects = _mesh_objects()
    users: dict = {}
    for o in objects:
        for slot in o.material_slots:
            if slot.material is not None and o.name not in users.setdefault(slot.material.name, []):
                users[slot.material.name].append(o.name)
    jobs: dict = {}
    done_objects: set = set()
    for rule in recipe.rules:
        def hit(name):
            return any(fnmatch.fnmatchcase(name, p) for p in rule.patterns)
        if rule.kind == "materials":
            for mat in sorted(users):
                if not hit(mat):
                    continue
                matched[rule.index] += 1
                if mat not in jobs:
                    jobs[mat] = Job(f"{scene}:{mat}", scene, blend, mat, None, sorted(users[mat]), rule,
                                    _seed(rule, "material", mat))
            continue
        for o in objects:
            if not hit(o.name):
                continue
            matched[rule.index] += 1
            if o.name in done_objects:
                continue
            done_objects.add(o.name)
            mat = o.active_material
            if mat is None:
                name = f"texgan {o.name}"
                create = "new"
            elif rule.seed_policy == "per_object" and len(users.get(mat.name, [])) > 1:
                name, create = f"{mat.name} {o.name}", f"copy:{mat.name}"
            else:
                name, create = mat.name, None
            if name in jobs:
                if jobs[name].rule is rule and create is None and rule.seed_policy != "per_object":
                    jobs[name].objects = sorted(set(jobs[name].objects) | {o.name})
                continue  # an earlier rule owns this material
            seed = _seed(rule, "object", o.name) if rule.seed_policy == "per_object" else _seed(rule, "material", name)
            jobs[name] = Job(f"{scene}:{name}", scene, blend, name, create, [o.name], rule, seed)
    planned = sorted(jobs.values(), key=lambda j: j.key)
    _plan_outputs(planned, scene, out_dir, models)
    return planned


def _seed(rule: Rule, kind: str, name: str) -> int:
    return rule.seed if rule.seed_policy == "fixed" else derive_seed(rule.seed, kind, name)


def _plan_outputs(jobs: list, scene: str, out_dir: str, models: dict) -> None:
    import bpy
    taken: dict = {}

    def claim(path, what):
        other = taken.setdefault(path, what)
        if other != what:
            raise RecipeError(f"{other} and {what} would both be written to {path}; rename one of them")
        return path

    scene_dir = os.path.join(out_dir, safe_name(scene))
    baked_by: dict = {}
    for job in jobs:
        rule = job.rule
        meta = models[rule.model]["meta"]
        painted = [m["name"] for m in meta["maps"]]
        available = painted + (["normal"] if "height" in painted else [])
        for m in rule.maps:
            if m not in available:
                raise RecipeError(f"{rule.label}: model {os.path.basename(rule.model)} cannot make map '{m}' "
                                  f"(it makes {', '.join(available)})")
            job.maps[m] = claim(os.path.join(scene_dir, f"{safe_name(job.material)}_{m}{_ext(rule)}"),
                                f"material '{job.material}' map {m}")
        if rule.bake is None:
            continue
        for name in job.objects:
            if name in baked_by:
                continue  # baked once, by the first job that holds the object
            obj = bpy.data.objects[name]
            if len(obj.data.uv_layers) == 0:
                if rule.bake.uv != "smart_project":
                    raise RecipeError(f"{rule.label}: object '{name}' in {scene} has no UV map to bake onto; "
                                      "unwrap it, or set bake.uv = \"smart_project\" in the recipe")
                job.smart_uv.append(name)
            empty = [s.slot_index for s in obj.material_slots if s.material is None]
            if empty and job.create is None:
                raise RecipeError(f"object '{name}' in {scene} has an empty material slot ({empty[0] + 1}); "
                                  "Cycles cannot bake it")
            baked_by[name] = job
            job.bakes[name] = {m: claim(os.path.join(scene_dir, "baked", f"{safe_name(name)}_{m}{_ext(rule)}"),
                                        f"object '{name}' baked {m}") for m in rule.bake.maps}


# ========================================================================================
# Images (Blender's own writer: works in the bpy module and in a Blender binary alike)
# ========================================================================================

IO_SCENE = "texgan bake io"


def _io_scene():
    import bpy
    sc = bpy.data.scenes.get(IO_SCENE)
    if sc is None:
        sc = bpy.data.scenes.new(IO_SCENE)
    return sc


def _drop_io_scene():
    import bpy
    sc = bpy.data.scenes.get(IO_SCENE)
    if sc is not None:
        bpy.data.scenes.remove(sc)


def save_map(array, path: str, fmt: str, bits: int, color: bool) -> None:
    """Write an HxW or HxWx3 map in [0, 1] atomically (temporary name, then rename).

    PNG stores the values as they are (base colour sRGB-encoded, data maps raw); EXR is
    scene-linear, so base colour is converted from sRGB to linear. Scalar maps are grey.
    """
    import bpy
    import numpy as np
    from .blender_images import to_rgba
    from .maps import srgb_to_linear

    a = np.asarray(array, dtype=np.float32)
    if fmt == "exr" and color:
        a = srgb_to_linear(a)
    h, w = a.shape[:2]
    image = bpy.data.images.new("texgan bake io", w, h, alpha=False, float_buffer=True)
    tmp = None
    try:
        image.colorspace_settings.name = "Non-Color"  # raw values in, raw values out
        image.pixels.foreach_set(to_rgba(a))
        settings = _io_scene().render.image_settings
        settings.file_format = 'PNG' if fmt == "png" else 'OPEN_EXR'
        settings.color_mode = 'RGB' if a.ndim == 3 else 'BW'
        settings.color_depth = str(bits)
        if fmt == "png":
            settings.compression = 15
        else:
            settings.exr_codec = 'ZIP'
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = temp_path(path)
        image.save_render(tmp, scene=_io_scene())
        os.replace(tmp, path)
        tmp = None
    finally:
        bpy.data.images.remove(image)
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def _colorspace(role: str, fmt: str) -> str:
    from .blender_images import role_format
    space = role_format(role)[0]
    return "Linear Rec.709" if space == "sRGB" and fmt == "exr" else space


def _file_image(name: str, role: str, path: str, fmt: str, info: dict):
    """A Blender image that reads ``path`` (which may not exist yet), tagged as texgan's."""
    import bpy
    from .blender_images import TAG
    image = bpy.data.images.new(name, 1, 1)
    image.source = 'FILE'
    try:
        image.filepath = bpy.path.relpath(path) if bpy.data.filepath else path
    except ValueError:  # another drive (Windows)
        image.filepath = path
    image.colorspace_settings.name = _colorspace(role, fmt)
    image.alpha_mode = 'NONE'
    image[TAG] = role
    for k, v in info.items():
        image[f"texgan_{k}"] = v
    return image


# ========================================================================================
# Manifest and report
# ========================================================================================

def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", socket.gethostname()) or "host"


def temp_path(path: str) -> str:
    """Where `path` is written before the rename: a hidden name in the same folder, tagged with this
    host and process so a later run can tell a dead writer's leftovers from a live one's."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{_host_tag()}~{os.getpid()}.tmp{os.path.splitext(path)[1]}")


_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)\.tmp(\.[A-Za-z0-9]+)?$")


def remove_stale_temps(out_dir: str) -> list:
    """Delete temporary files that a bake on this host left when it was killed mid-write (their
    process is gone). Files of live processes and of other hosts (shards sharing the folder) stay."""
    host = _host_tag()
    removed = []
    for root, _, files in os.walk(out_dir):
        for name in files:
            m = _TEMP_NAME.match(name)
            if not m or m["host"] != host:
                continue
            try:
                os.kill(int(m["pid"]), 0)
                continue   # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue   # alive, another user's
            os.remove(os.path.join(root, name))
            removed.append(os.path.join(root, name))
    return removed


def _manifest_path(out_dir: str, job: Job) -> str:
    return os.path.join(out_dir, "manifest", f"{safe_name(job.scene)}--{safe_name(job.material)}.json")


def write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temp_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _outputs_ok(step, params: str, out_dir: str) -> bool:
    if not isinstance(step, dict) or step.get("params") != params or not step.get("outputs"):
        return False
    for o in step["outputs"]:
        p = os.path.join(out_dir, o["path"])
        if not os.path.isfile(p) or file_sha256(p) != o["sha256"]:
            return False
    return True


def _params(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# ========================================================================================
# Running
# ========================================================================================

class Progress:
    """A text progress bar on stderr (one line per step when stderr is not a terminal)."""

    def __init__(self, total: int, label: str, enabled: bool = True, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.stream = stream or sys.stderr
        self.n, self.t0 = 0, time.time()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        if enabled and total:
            self._draw("")

    def _draw(self, note):
        width = 24
        fill = int(width * self.n / self.total) if self.total else width
        line = (f"{self.label} [{'#' * fill}{'.' * (width - fill)}] {self.n}/{self.total} "
                f"{time.time() - self.t0:5.1f}s {note}")
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def step(self, note: str = "") -> None:
        self.n += 1
        if self.enabled:
            self._draw(note)

    def close(self) -> None:
        if self.enabled and self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()


class Baker:
    def __init__(self, recipe: Recipe, out_dir: str, device: str | None, log):
        self.recipe, self.out_dir, self.log = recipe, out_dir, log
        self.device = device or recipe.device
        self.models: dict = {}      # path -> {"meta", "sha256", "session"}
        self.class_rows: dict = {}  # rule index -> class weight row (conditional models) or None
        self.errors: list = []

    def model_info(self, path: str) -> dict:
        info = self.models.get(path)
        if info is None:
            from .inference import ModelError, read_metadata
            try:
                meta = read_metadata(path)
            except ModelError as e:
                raise RecipeError(str(e)) from None
            info = self.models[path] = {"meta": meta, "sha256": file_sha256(path), "session": None}
        return info

    def check_classes(self) -> None:
        """Match every rule's 'class' to its model (RecipeError, one line, before any work).

        A conditional model needs a class and an unconditional one takes none; the class is
        resolved here to the weight row the model will be fed (see inference.class_weights).
        """
        from .inference import class_weights
        path = self.recipe.path
        for rule in self.recipe.rules:
            classes = list(self.model_info(rule.model)["meta"].get("classes") or [])
            model = os.path.basename(rule.model)
            key = f"rule[{rule.index + 1}]"
            where = _where(path, f"{key}.class") + (" (from [defaults])" if rule.class_from_defaults else "")
            if not classes:
                if rule.texture_class is not None:
                    hint = ("; set 'class' only in the rules that use conditional models" if rule.class_from_defaults
                            else "; remove 'class' from this rule")
                    raise RecipeError(f"{where}: model {model} is not conditional (it has no classes){hint}")
                self.class_rows[rule.index] = None
                continue
            listing = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
            if rule.texture_class is None:
                raise RecipeError(f"{_where(path, key)}: model {model} is conditional: set 'class' (in the rule or in "
                                  f"[defaults]) to one of its classes ({listing}) or a blend like "
                                  f"\"{classes[0]}:0.5,{classes[-1]}:0.5\"")
            try:
                self.class_rows[rule.index] = class_weights(classes, rule.texture_class)
            except ValueError as e:
                raise RecipeError(f"{where}: {e} (model {model})") from None

    def session(self, path: str):
        info = self.model_info(path)
        if info["session"] is None:
            from .inference import TextureModel
            info["session"] = TextureModel(path, device=self.device)
        return info["session"]

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.out_dir).replace(os.sep, "/")

    # ------------------------------------------------------------------ synthesis

    def synth_params(self, job: Job) -> dict:
        r = job.rule
        params = {"format": BAKE_FORMAT, "model_sha256": self.models[r.model]["sha256"], "seed": job.seed,
                  "size": list(r.size), "maps": {m: self.rel(p) for m, p in job.maps.items()}, "image_format": r.format,
                  "bit_depth": r.bit_depth, "normal_strength": r.normal_strength}
        row = self.class_rows.get(r.index)
        if row is not None:
            # The weights the model is fed, not the spelling: "moss" and "1" paint the same texture. Only
            # conditional models get the key, so manifests of unconditional bakes stay valid.
            params["class_weights"] = [float(x) for x in row]
        return params

    def synthesise(self, job: Job) -> list:
        from . import maps as maps_module
        r = job.rule
        model = self.session(r.model)
        w, h = r.size
        result = model.generate(h, w, seed=job.seed, class_weights=self.class_rows.get(r.index))[0]
        split = maps_module.split_maps(result, model.channels)
        outputs = []
        for m, path in job.maps.items():
            if m == "normal" and "normal" not in split:
                arr = maps_module.normal_from_height(split["height"], strength=r.normal_strength)
            else:
                arr = split[m]
            save_map(arr, path, r.format, r.bit_depth, color=(arr.ndim == 3 and m != "normal"))
            outputs.append({"map": m, "path": self.rel(path), "sha256": file_sha256(path)})
        return outputs

    # ------------------------------------------------------------------ Cycles bake

    def bake_params(self, job: Job, obj_name: str, source_sha: str, deps: list) -> dict:
        b = job.rule.bake
        return {"format": BAKE_FORMAT, "object": obj_name, "source_sha256": source_sha, "materials": deps,
                "maps": {m: self.rel(p) for m, p in job.bakes[obj_name].items()}, "margin": b.margin,
                "samples": b.samples, "size": list(b.size or job.rule.size), "uv": b.uv,
                "image_format": job.rule.format, "bit_depth": job.rule.bit_depth}

    def bake_object(self, job: Job, obj_name: str) -> list:
        import bpy
        import numpy as np
        from .blender_images import TAG, read_pixels
        from .maps import linear_to_srgb
        spec, rule = job.rule.bake, job.rule
        obj = bpy.data.objects[obj_name]
        if len(obj.data.uv_layers) == 0:
            if spec.uv != "smart_project":
                raise BakeError(f"object '{obj_name}' has no UV map to bake onto")
            smart_uv_project(obj)
        scene = obj.users_scene[0]
        view_layer = scene.view_layers[0]
        w, h = spec.size or rule.size
        saved = {"engine": scene.render.engine, "samples": scene.cycles.samples, "device": scene.cycles.device,
                 "active": view_layer.objects.active,
                 "selected": [o.name for o in view_layer.objects if o.select_get(view_layer=view_layer)]}
        materials = [s.material for s in obj.material_slots if s.material is not None and s.material.node_tree]
        outputs = []
        try:
            scene.render.engine = 'CYCLES'
            scene.cycles.samples = spec.samples
            scene.cycles.device = 'CPU'
            for o in view_layer.objects:
                o.select_set(False, view_layer=view_layer)
            obj.hide_set(False, view_layer=view_layer)
            obj.select_set(True, view_layer=view_layer)
            view_layer.objects.active = obj
            for m, path in job.bakes[obj_name].items():
                bake_type, extra = BAKE_PASSES[m]
                target = bpy.data.images.new(f"texgan bake {obj_name} {m}", w, h, alpha=False, float_buffer=True)
                target.colorspace_settings.name = "Non-Color"
                added = []
                try:
                    for mat in materials:
                        tree = mat.node_tree
                        node = tree.nodes.new("ShaderNodeTexImage")
                        node[TAG] = "bake_target"
                        node.image = target
                        added.append((tree, node, tree.nodes.active))
                        tree.nodes.active = node
                    with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=obj, object=obj,
                                                   selected_objects=[obj], selected_editable_objects=[obj]):
                        result = bpy.ops.object.bake(type=bake_type, margin=spec.margin, margin_type='EXTEND',
                                                     use_clear=True, target='IMAGE_TEXTURES',
                                                     use_selected_to_active=False, **extra)
                    if 'FINISHED' not in result:
                        raise BakeError(f"Cycles could not bake {m} of object '{obj_name}'")
                    px = read_pixels(target)[..., :3]
                    if m == "base_color":  # Cycles bakes linear albedo; save_map takes sRGB-encoded colour
                        save_map(linear_to_srgb(np.clip(px, 0.0, 1.0)), path, rule.format, rule.bit_depth, color=True)
                    elif m == "roughness":
                        save_map(px[..., 0], path, rule.format, rule.bit_depth, color=False)
                    else:
                        save_map(px, path, rule.format, rule.bit_depth, color=False)
                    outputs.append({"map": m, "path": self.rel(path), "sha256": file_sha256(path)})
                finally:
                    for tree, node, active in added:
                        tree.nodes.remove(node)
                        if active is not None:
                            tree.nodes.active = active
                    bpy.data.images.remove(target)
        finally:
            scene.render.engine = saved["engine"]
            scene.cycles.samples = saved["samples"]
            scene.cycles.device = saved["device"]
            for o in view_layer.objects:
                o.select_set(o.name in saved["selected"], view_layer=view_layer)
            view_layer.objects.active = saved["active"]
        return outputs


def smart_uv_project(obj) -> None:
    """Give ``obj`` a UV map with Blender's Smart UV Project (the mesh data is changed)."""
    import bpy
    scene = obj.users_scene[0]
    view_layer = scene.view_layers[0]
    with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=obj, object=obj,
                                   selected_objects=[obj], selected_editable_objects=[obj],
                                   objects_in_mode=[obj]):
        bpy.ops.object.mode_set(mode='EDIT')
        bpy.ops.mesh.select_all(action='SELECT')
        bpy.ops.uv.smart_project(island_margin=0.02)
        bpy.ops.object.mode_set(mode='OBJECT')
    if len(obj.data.uv_layers) == 0:
        raise BakeError(f"Smart UV Project gave object '{obj.name}' no UV map")


def _open(path: str) -> None:
    import bpy
    bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)


def _prepare_materials(baker: Baker, jobs: list) -> dict:
    """Create/copy the target materials and wire every job's maps (file images) with the add-on's code."""
    import bpy
    from . import nodes
    wired = {}
    for job in jobs:
        if job.create == "new":
            material = nodes.new_material(job.material)
            material.name = job.material
            for name in job.objects:
                nodes.assign_material(bpy.data.objects[name], material)
        elif job.create and job.create.startswith("copy:"):
            material = bpy.data.materials[job.create[5:]].copy()
            material.name = job.material
            obj = bpy.data.objects[job.objects[0]]
            slot = obj.material_slots[obj.active_material_index]
            slot.link = 'OBJECT'
            slot.material = material
        else:
            material = bpy.data.materials[job.material]
        nodes.check_material(material)
        rule = job.rule
        info = baker.models[rule.model]
        for role in list(nodes.our_nodes(material)):
            if role.startswith("image:"):
                old = nodes.reusable_image(material, role[6:])
                if old is not None:
                    bpy.data.images.remove(old)
        images = {m: _file_image(f"{job.material} texgan {m}", m, path, rule.format,
                                 {"model": info["meta"].get("name", ""), "seed": job.seed})
                  for m, path in job.maps.items()}
        nodes.wire(material, images, scale=rule.texture_scale, bump_strength=rule.bump_strength,
                   coordinates=rule.coordinates)
        record = {"model": rule.model, "model_name": str(info["meta"].get("name", "")),
                  "model_sha256": info["sha256"], "seed": job.seed, "width": rule.size[0],
                  "height": rule.size[1], "scale": rule.texture_scale, "recipe": baker.recipe.path, "rule": rule.name}
        if rule.texture_class is not None:  # like the Generate operator: only conditional models have one
            record["class"] = rule.texture_class
        material["texgan"] = record
        wired[job.key] = images
    return wired


def _save_blend(out_path: str, pack: bool) -> None:
    import bpy
    from .blender_images import pack_pending_images
    _drop_io_scene()
    pack_pending_images()  # texgan images left for save time are always packed, pack_images or not
    if pack:
        for image in bpy.data.images:
            if image.get("texgan_role") and image.source == 'FILE' and image.packed_file is None:
                image.pack()
    folder = os.path.dirname(out_path)
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path(out_path)
    try:
        bpy.ops.wm.save_as_mainfile(filepath=tmp, copy=True, relative_remap=True, compress=False)
        os.replace(tmp, out_path)
    finally:
        for p in (tmp, tmp + "1"):
            if os.path.exists(p):
                os.remove(p)


def run_bake(blend_paths, recipe_path, out_dir, shard="1/1", device: str | None = None, progress: bool = True,
             overwrite_source: bool = False, log=None) -> dict:
    """Bake every job of this shard; returns the report (also written to ``out_dir/report.json``).

    Runs inside Blender's Python (the bpy module or a Blender binary). Raises RecipeError /
    BakeError (one line) for bad input before any work starts; failed jobs are listed in the
    report and raise BakeError at the end, after every other job has run.
    """
    import bpy
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t_start = time.time()
    recipe = load_recipe(recipe_path)
    shard_t = parse_shard(shard)
    out_dir = os.path.abspath(os.fspath(out_dir))
    blends = [os.path.abspath(os.fspath(p)) for p in blend_paths]
    if not blends:
        raise BakeError("no .blend files to bake")
    scenes: dict = {}
    for b in blends:
        if not os.path.isfile(b):
            raise BakeError(f".blend file not found: {b}")
        stem = os.path.splitext(os.path.basename(b))[0]
        if stem in scenes:
            raise BakeError(f"two .blend files are both called '{stem}' ({scenes[stem]} and {b}); their outputs "
                            "would collide: rename one")
        scenes[stem] = b
    overwrite = overwrite_source or recipe.overwrite_source
    out_blends = {}
    for stem, b in scenes.items():
        target = b if overwrite else os.path.join(out_dir, recipe.blend.replace("{scene}", stem))
        if not overwrite and os.path.abspath(target) == b:
            raise BakeError(f"the output .blend would overwrite the source {b}; set [output] overwrite_source = "
                            "true (or --overwrite-source) if that is what you want")
        out_blends[stem] = target
    baker = Baker(recipe, out_dir, device, log)
    for rule in recipe.rules:
        baker.model_info(rule.model)
    baker.check_classes()

    # Plan everything first: bad recipes fail before any work.
    matched = {r.index: 0 for r in recipe.rules}
    plans: dict = {}
    source_sha: dict = {}
    for stem, b in scenes.items():
        _open(b)
        plans[stem] = plan_scene(recipe, stem, b, out_dir, matched, baker.models)
        source_sha[stem] = file_sha256(b)
    for rule in recipe.rules:
        if matched[rule.index] == 0:
            raise RecipeError(f"{rule.label}: no {rule.kind[:-1]} matches {', '.join(rule.patterns)} in "
                              f"{', '.join(scenes)}")
    all_jobs = [j for stem in scenes for j in plans[stem]]
    os.makedirs(out_dir, exist_ok=True)  # only now: a bad recipe leaves nothing behind
    for path in remove_stale_temps(out_dir):
        log(f"texgan bake: removed {os.path.relpath(path, out_dir)}, left by a bake that was stopped mid-write")
    mine = {j.key for j in shard_jobs(all_jobs, shard_t)}
    log(f"texgan bake: {len(all_jobs)} jobs in {len(scenes)} scenes; shard {shard_t[0]}/{shard_t[1]} "
        f"runs {len(mine)}")

    for stem, b in scenes.items():
        jobs = plans[stem]
        owned = [j for j in jobs if j.key in mine]
        if not owned and shard_t[1] > 1:
            continue
        _open(b)
        images = _prepare_materials(baker, jobs)
        by_material = {j.material: j for j in jobs}
        steps = [(job, None) for job in owned] + [(job, o) for job in owned for o in job.bakes]
        bar = Progress(len(steps), stem, enabled=progress)
        failed: set = set()
        for job, obj_name in steps:  # all syntheses first, then the Cycles bakes (which read them)
            what = job.material if obj_name is None else f"bake {obj_name}"
            if job.key in failed:
                bar.step(f"{what}: not run ({job.key} failed)")
                continue
            try:
                if obj_name is None:
                    made = _synth_step(baker, job, images)
                else:
                    made = _bake_step(baker, job, obj_name, images, by_material, source_sha[stem])
                bar.step(f"{what}: {'done' if made else 'skipped (done before)'}")
            except Exception as e:  # noqa: BLE001 - one bad job must not stop the batch
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                baker.errors.append({"job": job.key, "error": msg})
                failed.add(job.key)
                bar.step(f"{what}: FAILED ({msg})")
        for job in owned:
            if job.key not in failed:
                _finish(baker, job)
        bar.close()
        _save_blend(out_blends[stem], recipe.pack_images)

    report = build_report(baker, all_jobs, scenes, out_blends, shard_t, time.time() - t_start)
    write_json(os.path.join(out_dir, "report.json"), report)
    if baker.errors:
        e = baker.errors[0]
        more = f" (+{len(baker.errors) - 1} more; see report.json)" if len(baker.errors) > 1 else ""
        raise BakeError(f"{len(baker.errors)} of {len(mine)} jobs failed: {e['job']}: {e['error']}{more}")
    return report


def _base_record(baker: Baker, job: Job) -> dict:
    record = read_json(_manifest_path(baker.out_dir, job)) or {}
    rule = job.rule
    record.update({"key": job.key, "scene": job.scene, "material": job.material, "objects": job.objects,
                   "rule": rule.name, "model": rule.model, "model_sha256": baker.models[rule.model]["sha256"],
                   "seed": job.seed, "width": rule.size[0], "height": rule.size[1], "class": rule.texture_class})
    return record


def _synth_step(baker: Baker, job: Job, images: dict) -> bool:
    """Synthesise the job's maps unless its manifest shows them done (same parameters, same hashes)."""
    record = _base_record(baker, job)
    params = _params(baker.synth_params(job))
    made = False
    if not _outputs_ok(record.get("synth"), params, baker.out_dir):
        t0 = time.time()
        outputs = baker.synthesise(job)
        record["synth"] = {"params": params, "outputs": outputs, "seconds": round(time.time() - t0, 3)}
        record["complete"] = False
        write_json(_manifest_path(baker.out_dir, job), record)
        made = True
    for image in images[job.key].values():
        image.reload()
    return made


def _bake_step(baker: Baker, job: Job, obj_name: str, images: dict, by_material: dict, source_sha: str) -> bool:
    """Cycles-bake one object of the job unless its manifest shows it done."""
    import bpy
    obj = bpy.data.objects[obj_name]
    deps = []
    for slot in obj.material_slots:  # the maps of every texgan material on the object must exist
        other = by_material.get(slot.material.name) if slot.material else None
        if other is None:
            continue
        deps.append(baker.synth_params(other))
        if other is not job and not all(os.path.isfile(p) for p in other.maps.values()):
            baker.synthesise(other)  # another shard's job: deterministic, the same bytes it writes
            for image in images[other.key].values():
                image.reload()
    if obj_name in job.smart_uv and len(obj.data.uv_layers) == 0:
        smart_uv_project(obj)
    record = _base_record(baker, job)
    bparams = _params(baker.bake_params(job, obj_name, source_sha, deps))
    bakes = record.setdefault("bakes", {})
    if _outputs_ok(bakes.get(obj_name), bparams, baker.out_dir):
        return False
    t0 = time.time()
    outputs = baker.bake_object(job, obj_name)
    bakes[obj_name] = {"params": bparams, "outputs": outputs, "seconds": round(time.time() - t0, 3)}
    record["complete"] = False
    write_json(_manifest_path(baker.out_dir, job), record)
    return True


def _finish(baker: Baker, job: Job) -> None:
    record = _base_record(baker, job)
    record["bakes"] = {k: v for k, v in record.get("bakes", {}).items() if k in job.bakes}
    if not record.get("complete"):
        record["complete"] = True
        write_json(_manifest_path(baker.out_dir, job), record)


def build_report(baker: Baker, jobs: list, scenes: dict, out_blends: dict, shard, seconds: float) -> dict:
    outputs, pending = [], []
    for job in jobs:
        record = read_json(_manifest_path(baker.out_dir, job))
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


# ========================================================================================
# Command line (shared by `texgan bake` and `blender -b -P bake.py -- ...`)
# ========================================================================================

def build_argparser(prog: str = "texgan bake"):
    import argparse
    p = argparse.ArgumentParser(prog=prog, description="Synthesise textures into many .blend files from a recipe.")
    add_arguments(p)
    return p


def add_arguments(p) -> None:
    p.add_argument("blends", nargs="*", metavar="SCENE.blend",
                   help=".blend files to bake (in a Blender binary: default the file Blender opened)")
    p.add_argument("--recipe", required=True, help="recipe TOML file (see docs/bake.md)")
    p.add_argument("--out", required=True, help="output folder for maps, baked maps, .blend files and report.json")
    p.add_argument("--shard", default="1/1", help="run shard i of N (1-based), e.g. 3/8; jobs split by sorted key")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="ONNX Runtime device (default: the recipe's 'device', else auto)")
    p.add_argument("--overwrite-source", action="store_true",
                   help="save each .blend over its source instead of into --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv=None) -> int:
    """Entry point inside a Blender binary (and `python addon/bake.py -- ...` with the bpy module)."""
    import bpy
    if argv is None:
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    args = build_argparser("blender -b [SCENE.blend] -P bake.py --").parse_args(argv)
    blends = list(args.blends) or ([bpy.data.filepath] if bpy.data.filepath else [])
    try:
        run_bake(blends, args.recipe, args.out, shard=args.shard, device=args.device,
                 progress=not args.no_progress, overwrite_source=args.overwrite_source)
    except (RecipeError, BakeError, ValueError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"texgan bake: error: {msg}", file=sys.stderr, flush=True)
        return 2
    return 0


def _script_entry() -> None:
    """Run as a script (``-P bake.py``): import this file as part of its package, then main()."""
    import importlib
    here = os.path.dirname(os.path.realpath(__file__))
    package = None
    for name, module in list(sys.modules.items()):  # the installed extension, already imported by Blender
        paths = getattr(module, "__path__", None)
        if paths and any(os.path.realpath(p) == here for p in paths) and name != "__main__":
            package = name
            break
    if package is None:
        parent, package = os.path.split(here)
        if parent not in sys.path:
            sys.path.insert(0, parent)
    extra = os.environ.get("TEXGAN_PYTHONPATH")  # e.g. a folder holding onnxruntime for Blender's Python
    if extra:
        for p in extra.split(os.pathsep):
            if p and p not in sys.path:
                sys.path.append(p)
    module = importlib.import_module(f"{package}.bake")
    sys.exit(module.main())


if __name__ == "__main__":
    _script_entry()
