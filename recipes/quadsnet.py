"""Runs the `quadsnet` recipe: the same as `python -m kerasimb.recipes.quadsnet ...` and
`kerasimb run quadsnet ...`.

    python recipes/quadsnet.py --help
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "kerasimb.recipes.quadsnet", *sys.argv[1:]])
