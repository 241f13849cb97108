"""Keras Tuner search over the imbalance methods and their hyperparameters: leaderboard, best configuration retrained and scored once on the test split, search history plot.

The same as `kerasimb tune` (all the work is in `kerasimb.tuning`):

    python recipes/tune.py --dataset digits-lt --methods ce focal balanced-mixup ldam \\
        --max-trials 12 --epochs 10 --tuner bayesian --output runs/tune-digits
    python recipes/tune.py --dataset medmnist:../shared/data/pneumoniamnist_lt.npz \\
        --tuner hyperband --epochs 9 --output runs/tune-pneumonia

The search state lives in `--directory` (default `<output>/search`); rerunning the same command
resumes an interrupted search. Writes report.md (settings, leaderboard, test figures of the
retrained best configuration), tuning.json and search_history.png to `--output`.
"""

import argparse
import sys

from kerasimb.tuning import command


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    return command.add_arguments(parser)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    return command.run(args, parser.error)


if __name__ == "__main__":
    sys.exit(main())
