"""Runs `kerasimb tune` (a Keras Tuner search over the methods, `kerasimb.tuning`): the same as `python -m kerasimb tune ...`.

    python recipes/tune.py --help
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "kerasimb", "tune", *sys.argv[1:]])
