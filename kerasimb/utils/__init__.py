"""Shared helpers: argument validation (`check_*`), seeding, atomic writes and the run set-up
(precision policy, distribution strategy)."""

from kerasimb.utils.atomic import atomic_path, write_json, write_npz, write_text
from kerasimb.utils.runtime import (
    make_strategy,
    precision_policy,
    resolve_precision,
    strategy_scope,
)
from kerasimb.utils.seeding import set_seed
from kerasimb.utils.validation import (
    check_choice,
    check_class_counts,
    check_float,
    check_images_labels,
    check_int,
    check_labels,
)

__all__ = [
    "atomic_path",
    "check_choice",
    "check_class_counts",
    "check_float",
    "check_images_labels",
    "check_int",
    "check_labels",
    "make_strategy",
    "precision_policy",
    "resolve_precision",
    "set_seed",
    "strategy_scope",
    "write_json",
    "write_npz",
    "write_text",
]
