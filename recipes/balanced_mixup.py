"""Runs the `balanced_mixup` recipe: the same as `python -m kerasimb.recipes.balanced_mixup ...` and
`kerasimb run balanced_mixup ...`.

    python recipes/balanced_mixup.py --help
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "kerasimb.recipes.balanced_mixup", *sys.argv[1:]])
