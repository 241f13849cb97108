"""Keras Tuner search over imbalance methods: `ImbalanceHyperModel`, `make_tuner`, `tune`.

Needs `keras-tuner` (an install requirement of kerasimb; `pip install keras-tuner`, which brings
`grpcio` for the distributed search of `kerasimb.tuning.distributed`).
"""

from kerasimb.tuning import distributed, oracles
from kerasimb.tuning.distributed import distributed_role
from kerasimb.tuning.hypermodel import OBJECTIVES, ImbalanceHyperModel
from kerasimb.tuning.search import (
    TUNERS,
    TuningResult,
    leaderboard,
    leaderboard_table,
    make_tuner,
    plot_search_history,
    show_progress,
    tune,
)

__all__ = [
    "OBJECTIVES",
    "TUNERS",
    "ImbalanceHyperModel",
    "TuningResult",
    "distributed",
    "distributed_role",
    "leaderboard",
    "leaderboard_table",
    "make_tuner",
    "oracles",
    "plot_search_history",
    "show_progress",
    "tune",
]
