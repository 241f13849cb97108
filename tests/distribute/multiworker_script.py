"""One worker of a two-worker `MultiWorkerMirroredStrategy` run on localhost, or the one-device
reference (run as subprocesses by test_multiworker.py).

    python multiworker_script.py OUTPUT_JSON [--worker INDEX --ports P0,P1]

With `--worker`, TF_CONFIG names two workers on localhost ports P0 and P1 and this process is
worker INDEX; both train the same tiny `compare` run (class-sampling, one epoch) and write their
results. Without it, the same run on one device. The strategy must exist before TensorFlow runs
any other op, so it is created first.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--worker", type=int, default=None)
    parser.add_argument("--ports", default=None)
    parser.add_argument("--method", default="class-sampling")
    args = parser.parse_args(argv)
    distribute = "none"
    if args.worker is not None:
        ports = args.ports.split(",")
        os.environ["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"localhost:{p}" for p in ports]},
            "task": {"type": "worker", "index": args.worker},
        })
        distribute = "multiworker"

    import tensorflow as tf

    # Before any other TensorFlow op. The instance, not the name: `make_strategy("multiworker")`
    # refuses several workers at once, and this script watches for a Keras that trains there.
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if distribute == "multiworker" else None

    import numpy as np

    from kerasimb.runs import compare

    from distribute_helpers import make_model_fn, tiny_dataset  # noqa: E402  (same folder)

    result = compare(tiny_dataset(), methods=[args.method], backbone=make_model_fn(False),
                     epochs=1, seeds=(0,), batch_size=16, learning_rate=3e-3, progress=False,
                     distribute=strategy)
    record = result.runs[0]
    probs = np.asarray(result.probabilities[(record["method"], 0)], np.float64)
    with open(args.output, "w") as f:
        json.dump({
            "history": {k: [float(v) for v in vs] for k, vs in record["history"].items()},
            "probabilities": probs.tolist(),
            "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
        }, f)


if __name__ == "__main__":
    main()
