"""Classes of conditional models: a user's choice -> the class weight row the model is fed."""
from __future__ import annotations

import numpy as np


def class_weights(classes, choice) -> np.ndarray:
    """One row of class weights float32 [K] for a conditional model with class names `classes`.

    choice: a class name, an index (int or a string of digits), a mapping {name or index: weight},
    a string "name:w,name:w" (e.g. "bricks:0.5,moss:0.5"), or a sequence of K weights. Weights must
    be >= 0 with a positive sum; they are scaled to sum to 1. Raises ValueError (one line) that
    lists the classes when the choice names none of them, or when choice is None.
    """
    classes = list(classes or [])
    listing = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
    if not classes:
        raise ValueError("this model is not conditional: it has no classes to choose from")
    K = len(classes)

    def index_of(key) -> int:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
        elif isinstance(key, str) and key.strip() in classes:
            return classes.index(key.strip())
        elif isinstance(key, str) and key.strip().isdigit():
            i = int(key.strip())
        else:
            raise ValueError(f"unknown class {key!r}; the model's classes are {listing}")
        if not 0 <= i < K:
            raise ValueError(f"class index {i} is out of range; the model's classes are {listing}")
        return i

    if choice is None:
        raise ValueError(f"this model is conditional: choose a class ({listing})")
    row = np.zeros(K, dtype=np.float64)
    if isinstance(choice, str) and ":" in choice and choice.strip() not in classes:
        pairs = {}
        for part in choice.split(","):
            key, sep, value = part.rpartition(":")
            if not sep or not key.strip():
                raise ValueError(f"class blend {choice!r} should look like name:weight,name:weight")
            try:
                pairs[key] = float(value)
            except ValueError:
                raise ValueError(f"class weight {value!r} in {choice!r} is not a number") from None
        choice = pairs
    if isinstance(choice, dict):
        for key, value in choice.items():
            row[index_of(key)] += float(value)
    elif isinstance(choice, (str, int, np.integer)) and not isinstance(choice, bool):
        row[index_of(choice)] = 1.0
    else:
        try:
            row = np.asarray(choice, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"cannot read class weights from {choice!r}") from None
        if row.size != K:
            raise ValueError(f"class weights need {K} values (one per class: {listing}), got {row.size}")
    if not np.all(np.isfinite(row)) or (row < 0).any() or row.sum() <= 0:
        raise ValueError(f"class weights must be >= 0 with a positive sum; the model's classes are {listing}")
    return (row / row.sum()).astype(np.float32)


def resolve_class(classes, choice, model: str = "the model", setting: str = "--class", default_first: bool = False):
    """The one rule every caller follows: (weight row [K] or None, the choice used or None).

    An unconditional model takes no choice; a conditional one needs one (or, with default_first,
    takes its first class, as the Blender panel does). ValueError (one line) otherwise.
    """
    classes = list(classes or [])
    if not classes:
        if choice is not None:
            raise ValueError(f"{setting} given but {model} is not conditional (it has no classes)")
        return None, None
    if choice is None:
        if not default_first:
            listing = ", ".join(f"{i}={c}" for i, c in enumerate(classes))
            raise ValueError(f"{model} is conditional: set {setting} to one of its classes ({listing}) or a blend "
                             f"like {classes[0]}:0.5,{classes[-1]}:0.5")
        choice = classes[0]
    return class_weights(classes, choice), choice
