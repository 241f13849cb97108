"""Runs the `metric_learning` recipe: the same as `python -m kerasimb.recipes.metric_learning ...` and
`kerasimb run metric_learning ...`.

    python recipes/metric_learning.py --help
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "kerasimb.recipes.metric_learning", *sys.argv[1:]])
