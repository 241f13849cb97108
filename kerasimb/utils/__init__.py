"""Shared helpers: argument validation (`check_*`) and seeding."""

from kerasimb.utils.atomic import atomic_path, write_json, write_npz, write_text
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
    "set_seed",
    "write_json",
    "write_npz",
    "write_text",
]
