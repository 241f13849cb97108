"""Trains the same tiny runs on one device and under `MirroredStrategy` over two logical CPU
devices, and writes both runs' figures as JSON (run as a subprocess by test_mirrored.py).

    python mirrored_script.py OUTPUT_JSON [--cases ce,reweight,...] [--epochs 2] [--batch-norm]

Logical CPU devices can only be configured before TensorFlow initialises its devices, hence a
separate process. The model has no dropout and, unless `--batch-norm`, no BatchNorm: BatchNorm
statistics are per replica under `MirroredStrategy` (not synchronised), so with it the two runs
differ by more than float rounding.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

# Before anything else touches TensorFlow's devices.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from distribute_helpers import make_model_fn, tiny_dataset  # noqa: E402

CASES = {
    # name: (registered method, params)
    "ce": ("ce", {}),
    "reweight": ("reweight", {}),
    "class-sampling": ("class-sampling", {}),
    "balanced-mixup": ("balanced-mixup", {}),
    "ce-crw": ("ce-crw", {"stage2_epochs": 2, "warmup_epochs": 0}),
    "center-crw": ("center-crw", {"stage2_epochs": 2, "warmup_epochs": 0,
                                  "metric_weight": 0.05}),
    "triplet-crw": ("triplet-crw", {"stage2_epochs": 1, "warmup_epochs": 0,
                                    "metric_weight": 0.05}),
    "supcon-crw": ("supcon-crw", {"stage2_epochs": 1, "warmup_epochs": 0}),
    "aduni": ("aduni", {"projection_dim": 16}),
    "paco-queue": ("paco", {"projection_dim": 16, "queue_size": 24}),
}


def run(case, distribute, dataset, epochs, batch_size, batch_norm):
    from kerasimb import methods
    from kerasimb.runs import compare

    name, params = CASES[case]
    result = compare(dataset, methods=[methods.get(name, **params)],
                     backbone=make_model_fn(batch_norm), epochs=epochs, seeds=(0,),
                     batch_size=batch_size, learning_rate=3e-3, progress=False,
                     distribute=distribute)
    record = result.runs[0]
    history = {key: [float(v) for v in values] for key, values in record["history"].items()}
    probs = np.asarray(result.probabilities[(record["method"], 0)], dtype=np.float64)
    return {
        "history": history,
        "accuracy": float(record["report"]["accuracy"]),
        "balanced_accuracy": float(record["report"]["balanced_accuracy"]),
        "probabilities": probs.tolist(),
        "replicas": result.settings["distribute"],
        "seconds": record["seconds"],
    }


MODEL_CASES = {
    # name: (model class, kwargs): trained with `fit` directly on a fixed-order dataset.
    "model-center": ("two_stage", {"metric_loss": "center", "metric_weight": 0.05}),
    "model-triplet": ("two_stage", {"metric_loss": "triplet", "metric_weight": 0.05}),
    "model-supcon": ("two_stage", {"metric_loss": "supcon", "projection_hidden_dim": 16,
                                   "projection_dim": 8}),
    "model-aduni": ("aduni", {"projection_dim": 8}),
    "model-aduni-queue": ("aduni", {"projection_dim": 8, "queue_size": 12}),
}


def run_model(case, strategy, dataset, epochs, batch_size, batch_norm):
    """`fit` of a TwoStageClassifier / AdUni on batches in a fixed order (the same batches from
    every iterator, so one device and the replicas see the same global batches)."""
    from kerasimb.models import AdUni, TwoStageClassifier, feature_extractor
    from kerasimb.utils import runtime

    kind, kwargs = MODEL_CASES[case]
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    x, y = dataset.train
    x = x.astype("float32") / 255.0
    onehot = keras.utils.to_categorical(y, 3).astype("float32")
    order = np.random.default_rng(0).permutation(len(y))
    x, onehot = x[order], onehot[order]
    with runtime.strategy_scope(strategy):
        encoder = feature_extractor(make_model_fn(batch_norm)(x.shape[1:], 3))
        if kind == "two_stage":
            model = TwoStageClassifier(encoder, 3, **kwargs)
            model.compile(keras.optimizers.Adam(3e-3),
                          keras.losses.CategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            data = tf.data.Dataset.from_tensor_slices((x, onehot))
        else:
            model = AdUni(encoder, 3, class_counts=dataset.class_counts, **kwargs)
            model.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
            shifted = np.roll(x, 1, axis=2)  # a fixed second view
            data = tf.data.Dataset.from_tensor_slices(((x, shifted), onehot))
        history = model.fit(data.batch(batch_size), epochs=epochs, verbose=0, shuffle=False)
        logs = dict(history.history)
        if kind == "two_stage":  # stage 2: the head alone, on batches in a seeded fixed order
            stage2 = model.retrain_classifier(x, onehot.argmax(1), method="reweight", epochs=1,
                                              batch_size=batch_size, seed=0)
            logs.update({f"stage2_{k}": v for k, v in stage2.history.items()})
        probs = np.asarray(keras.ops.softmax(model.predict(x, verbose=0)), np.float64)
    weights = {w.path: np.asarray(w).tolist() for w in model.weights}
    return {
        "history": {k: [float(v) for v in vs] for k, vs in logs.items()},
        "probabilities": probs.tolist(),
        "weights": weights,
        "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--cases", default="ce,reweight,balanced-mixup,ce-crw,center-crw,aduni")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batch-norm", action="store_true")
    args = parser.parse_args(argv)
    assert len(tf.config.list_logical_devices("CPU")) == 2
    dataset = tiny_dataset()
    out = {}
    from kerasimb.utils import runtime

    strategy = runtime.make_strategy("mirrored")
    for case in args.cases.split(","):
        start = time.perf_counter()
        if case in MODEL_CASES:
            out[case] = {
                name: run_model(case, s, dataset, args.epochs, args.batch_size,
                                args.batch_norm)
                for name, s in (("none", None), ("mirrored", strategy))
            }
        else:
            out[case] = {
                distribute: run(case, distribute, dataset, args.epochs, args.batch_size,
                                args.batch_norm)
                for distribute in ("none", "mirrored")
            }
        print(f"{case}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    with open(args.output, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
