"""The one seed rule of the Generate operator and ``texgan bake``: which seed paints which material.

Machine-independent (sha256, never Python's salted ``hash()``), so the same material name and seed
paint the same texture in Generate, in a bake and on every machine.
"""
from __future__ import annotations

import hashlib

# Hashed into every derived seed: changing it would change every texture ever painted, so it keeps the
# name it had when only bakes derived seeds.
SEED_FORMAT = "texgan-bake/1"
SEED_POLICIES = ("fixed", "per_object", "per_material")


def derive_seed(seed: int, kind: str, name: str) -> int:
    """Stable 31-bit seed from a base seed and a name (``kind`` is "material" or "object")."""
    digest = hashlib.sha256(f"{SEED_FORMAT}\0{kind}\0{name}\0{seed}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def seed_for(policy: str, seed: int, material: str, obj: str | None = None) -> int:
    """The seed of the texture that ``material`` receives (for object ``obj``, where one asked for it).

    fixed: ``seed`` itself; per_material: derived from the material's name; per_object: from the object's.
    """
    if policy == "fixed":
        return seed
    if policy == "per_object":
        return derive_seed(seed, "object", obj)
    if policy == "per_material":
        return derive_seed(seed, "material", material)
    raise ValueError(f"seed policy must be one of {', '.join(SEED_POLICIES)}, got {policy!r}")
