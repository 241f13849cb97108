"""A tiny `compare` run for the interruption tests (run as a subprocess).

    python resume_script.py OUTPUT_DIR [--kill METHOD:SEED:EPOCH:BATCH:SIGNAL] [--select-by KEY]
                                       [--methods ...] [--deterministic] [--json PATH]

`--kill` sends the signal to this process at the end of the given batch of the given epoch of
the given run, i.e. in the middle of training.
"""

import argparse
import json
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402


class Killer(keras.callbacks.Callback):
    def __init__(self, spec, state):
        super().__init__()
        self.spec, self.state = spec, state

    def on_train_batch_end(self, batch, logs=None):
        if self.spec is None:
            return
        method, seed, epoch, at_batch, sig = self.spec
        if (self.state["run"] == (method, seed) and self.state["epoch"] == epoch
                and batch == at_batch):
            sys.stdout.flush()
            os.kill(os.getpid(), getattr(signal, sig))

    def on_epoch_begin(self, epoch, logs=None):
        self.state["epoch"] = epoch


def tiny_dataset(train=(12, 6, 3), val=(3, 3, 3), test=(5, 5, 5)):
    """Three classes of 8x8 images whose bright stripe position is the class (per-class counts)."""
    from kerasimb.data import ImageDataset

    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), 8, 8, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 2 * c: 2 * c + 3, 0] += 170
        return x, y

    return ImageDataset(split(list(train)), split(list(val)), split(list(test)),
                        ["a", "b", "c"], name="tiny")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--kill", default=None)
    parser.add_argument("--select-by", default=None)
    parser.add_argument("--methods", nargs="+", default=["ce", "reweight"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--no-output-dir", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    from kerasimb import methods, runs
    from kerasimb.models import model_fn

    spec = None
    if args.kill:
        method, seed, epoch, batch, sig = args.kill.split(":")
        spec = (method, int(seed), int(epoch), int(batch), sig)
    state = {"run": None, "epoch": None}

    original_train = methods.Method.train

    def train(self, dataset, model_fn_, *a, **kw):
        state["run"] = (self.name, kw.get("seed"))
        return original_train(self, dataset, model_fn_, *a, **kw)

    methods.Method.train = train
    result = runs.compare(
        tiny_dataset(), args.methods, backbone=model_fn("small_cnn", width=4, depth=2),
        epochs=args.epochs, seeds=args.seeds, batch_size=8, learning_rate=1e-2,
        progress=False, callbacks=[Killer(spec, state)], select_by=args.select_by,
        output_dir=None if args.no_output_dir else args.output,
    )
    out = {f"{r['method']}/{r['seed']}": {"report": r["report"], "history": r["history"]}
           for r in result.runs}
    out["probabilities"] = {f"{m}/{s}": p.tolist() for (m, s), p in result.probabilities.items()}
    with open(args.json or os.path.join(args.output, "result.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
