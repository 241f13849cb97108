"""Shared helpers: argument validation (`check_*`), image scaling, seeding, atomic writes, the
network check before a download (`check_connection`) and the run set-up (precision policy,
distribution strategy)."""

from kerasimb.utils.atomic import atomic_path, write_json, write_npz, write_text
from kerasimb.utils.curves import plot_training_curves
from kerasimb.utils.images import to_float_images, to_float_tensor
from kerasimb.utils.network import check_connection
from kerasimb.utils.runtime import (
    global_batch,
    make_strategy,
    precision_policy,
    replicas_in_sync,
    resolve_precision,
    scale_for_replicas,
    strategy_scope,
    unscale_for_replicas,
    with_data_sharding,
)
from kerasimb.utils.seeding import set_seed
from kerasimb.utils.validation import (
    check_choice,
    check_class_counts,
    check_float,
    check_images_labels,
    check_input_shape,
    check_int,
    check_labels,
)

__all__ = [
    "atomic_path",
    "check_choice",
    "check_class_counts",
    "check_connection",
    "check_float",
    "check_images_labels",
    "check_int",
    "check_input_shape",
    "check_labels",
    "global_batch",
    "make_strategy",
    "plot_training_curves",
    "precision_policy",
    "replicas_in_sync",
    "resolve_precision",
    "scale_for_replicas",
    "set_seed",
    "strategy_scope",
    "to_float_images",
    "to_float_tensor",
    "unscale_for_replicas",
    "with_data_sharding",
    "write_json",
    "write_npz",
    "write_text",
]
