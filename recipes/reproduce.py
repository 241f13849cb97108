"""Runs `kerasimb reproduce` (every paper's recipe at a budget, each claim judged,
`kerasimb.recipes.reproduce`): the same as `python -m kerasimb reproduce ...`.

    python recipes/reproduce.py --help
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "kerasimb", "reproduce", *sys.argv[1:]])
