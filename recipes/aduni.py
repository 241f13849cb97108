"""Runs the `aduni` recipe: the same as `python -m kerasimb.recipes.aduni ...` and
`kerasimb run aduni ...`.

    python recipes/aduni.py --help
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "kerasimb.recipes.aduni", *sys.argv[1:]])
