"""Runs the `perturbed_inference` recipe: the same as `python -m kerasimb.recipes.perturbed_inference ...` and
`kerasimb run perturbed_inference ...`.

    python recipes/perturbed_inference.py --help
"""

import os
import sys

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", "kerasimb.recipes.perturbed_inference", *sys.argv[1:]])
