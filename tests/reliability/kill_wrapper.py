"""Runs a command's `main` (a recipe or `kerasimb`) in this process, killing it mid-training.

    python kill_wrapper.py [--kill-after N] [--signal SIGKILL] [--count PATH] \\
        (<recipe> | kerasimb) ARGS...

Every `keras.Model.fit` of the process gets a callback that counts the training batches (over
all fits); with `--kill-after N` the process sends itself the signal at the end of the N-th
batch, i.e. in the middle of an epoch. `--count PATH` writes the number of batches trained (and
of `fit` calls) as JSON when the command returns, so that a test can tell that a rerun did not
train finished work again.
"""

import argparse
import json
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

STATE = {"batches": 0, "fits": 0}


class Counter(keras.callbacks.Callback):
    def __init__(self, kill_after, sig):
        super().__init__()
        self.kill_after, self.sig = kill_after, sig

    def on_train_begin(self, logs=None):
        STATE["fits"] += 1

    def on_train_batch_end(self, batch, logs=None):
        STATE["batches"] += 1
        if self.kill_after is not None and STATE["batches"] == self.kill_after:
            sys.stdout.flush()
            os.kill(os.getpid(), getattr(signal, self.sig))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-after", type=int, default=None)
    parser.add_argument("--signal", default="SIGKILL")
    parser.add_argument("--count", default=None)
    parser.add_argument("command")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    counter = Counter(args.kill_after, args.signal)
    original_fit = keras.Model.fit

    def fit(self, *a, **kw):
        kw["callbacks"] = [*(kw.get("callbacks") or []), counter]
        return original_fit(self, *a, **kw)

    keras.Model.fit = fit
    from kerasimb.cli.main import main

    if args.command == "kerasimb":
        code = main(args.args)
    else:
        code = main(["run", args.command, *args.args])
    if args.count:
        with open(args.count, "w") as f:
            json.dump(STATE, f)
    sys.exit(code)


if __name__ == "__main__":
    main()
