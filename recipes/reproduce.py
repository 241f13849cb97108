"""Reproduce every paper: run each recipe at a budget and judge each paper's headline claim (reproduced / not reproduced / mixed) from our mean ± std over seeds.

The same as `kerasimb reproduce` (claims, verdict rule and runner are in `kerasimb.reproduce`):

    python recipes/reproduce.py --dataset digits-lt --budget small --output runs/reproduce
    python recipes/reproduce.py --dataset medmnist:../shared/data/pneumoniamnist_lt.npz \\
        --budget medium --recipes balanced_mixup perturbed_inference

Each recipe runs as a subprocess into `<output>/<recipe>/` (its own metrics.json, report.md and
log.txt); a recipe that is missing or fails is reported "not run" with its error. Writes
report.md (the verdict table, per-paper details, the recipe runs) and reproduce.json.
"""

import argparse
import sys

from kerasimb import reproduce


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    return reproduce.add_arguments(parser)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return reproduce.run(args, parser.error)


if __name__ == "__main__":
    sys.exit(main())
