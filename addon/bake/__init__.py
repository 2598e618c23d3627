"""Headless batch baking: a TOML recipe -> synthesised maps wired into many .blend files.

One code path, two ways in (both run :func:`run_bake` inside Blender's Python):

* ``texgan bake SCENE.blend [MORE.blend ...] --recipe R.toml --out DIR`` (the ``bpy`` module), and
* ``blender -b [SCENE.blend] -P <addon>/bake/__main__.py -- [MORE.blend ...] --recipe R.toml --out DIR``
  (a Blender binary; the script finds its own package, the installed extension or a source tree).

This package belongs to the extension, so it imports only the standard library, numpy and the
extension's own modules: ``core`` (painting, files; bpy-free), ``nodes`` (the add-on's material
wiring) and ``blender_images``. Images are written with Blender's own image writer, so nothing
beyond Blender is needed. Modules: ``recipe`` (schema and checks), ``plan`` (jobs of a scene),
``images`` (Blender's writer), ``manifest`` (resume records, report), ``cycles`` (Cycles bakes),
``run`` (the job loop), ``cli`` and ``__main__`` (the command line and the ``-P`` entry point).

Work is cut into *jobs*, one per (scene, material): a material shared by several objects is
synthesised once. Every output is written to a temporary name and renamed into place; each job
keeps a record in ``DIR/manifest/`` (parameters + sha256 of every output), so a re-run skips
finished work and a killed bake resumes. ``--shard i/N`` takes every N-th job of the sorted
job list. ``DIR/report.json`` lists every output. See docs/bake.md.
"""
from __future__ import annotations

from ..core.files import file_sha256, read_json, remove_stale_temps, temp_path, write_json  # noqa: F401
from .cli import add_arguments, blender_argv, build_argparser, main  # noqa: F401
from .plan import Job, plan_scene  # noqa: F401
from .recipe import (BAKE_FORMAT, BAKE_PASSES, RECIPE_VERSION, BakeError, BakeSpec, Recipe,  # noqa: F401
                     RecipeError, Rule, derive_seed, load_recipe, parse_shard, safe_name, shard_jobs)
from .run import Baker, _save_blend, run_bake  # noqa: F401
