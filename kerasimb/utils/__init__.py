"""Shared helpers: argument validation (`check_*`) and seeding."""

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
    "check_choice",
    "check_class_counts",
    "check_float",
    "check_images_labels",
    "check_int",
    "check_labels",
    "set_seed",
]
