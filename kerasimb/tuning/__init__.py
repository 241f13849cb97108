"""Keras Tuner search over imbalance methods: `ImbalanceHyperModel`, `make_tuner`, `tune`.

Needs `keras-tuner` (an install requirement of kerasimb; `pip install keras-tuner`).
"""

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
    "leaderboard",
    "leaderboard_table",
    "make_tuner",
    "plot_search_history",
    "show_progress",
    "tune",
]
