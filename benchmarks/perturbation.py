"""Cost of perturbed prediction (Chen et al., MICCAI 2021) relative to plain `model.predict`.

Everything is measured in one run, on the same model and the same batches:

- `model.predict`: Keras' own prediction loop (the baseline of the ratio);
- `forward (tf.function)`: one compiled forward pass per batch, no Keras loop;
- `perturbed predict`: `PerturbedPredictor.predict` (forward to the logits, input-gradient
  backward, step, second forward, in one compiled function), with and without XLA, and with
  `tf.function` switched off (eager);
- where the time goes: `sign` (forward + backward, compiled) and `second forward` (forward on
  x̃, compiled); their sum is about the perturbed cost.

The paper reports 0.283 s vs 0.107 s per image (2.6x) on a GPU. The work is two forwards and one
backward (about 2x a forward), so about 3x is the floor.

    python benchmarks/perturbation.py                       # small_cnn 28x28 and mobilenetv2 32x32
    python benchmarks/perturbation.py --models small_cnn --images 512 --output runs/bench.md

`run(models, images, batch_size, repeats, eager=True)` returns the rows as dicts (for
`benchmarks/run_all.py`).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasimb.inference import PerturbedPredictor  # noqa: E402
from kerasimb.models import model_fn  # noqa: E402

SHAPES = {"small_cnn": (28, 28, 1), "mobilenetv2": (32, 32, 3), "resnet50": (32, 32, 3),
          "densenet169": (32, 32, 3)}
COUNTS = [1000, 300, 100, 30, 10]


def timed(fn, repeats):
    fn()  # warm up: traces and compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(name, images, batch_size, repeats, eager=True):
    keras.utils.set_random_seed(0)
    shape = SHAPES[name]
    model = model_fn(name)(shape, len(COUNTS))
    x = np.random.default_rng(0).uniform(size=(images, *shape)).astype("float32")
    batches = [tf.constant(x[i:i + batch_size]) for i in range(0, images, batch_size)]
    predictor = PerturbedPredictor(model, COUNTS, epsilon=1e-3, batch_size=batch_size)
    xla = PerturbedPredictor(model, COUNTS, epsilon=1e-3, batch_size=batch_size, jit_compile=True)
    forward = predictor._function("forward")
    sign_fn = predictor._function("sign")
    temperature = tf.constant(1000.0)
    signs = [sign_fn(b, temperature)[0] for b in batches]
    stepped = [b - 1e-3 * s for b, s in zip(batches, signs)]

    variants = {
        "model.predict": lambda: model.predict(x, batch_size=batch_size, verbose=0),
        "forward (tf.function)": lambda: [forward(b).numpy() for b in batches],
        "perturbed predict (tf.function)": lambda: predictor.predict(x),
        "perturbed predict (tf.function + XLA)": lambda: xla.predict(x),
        "  of which: sign = forward + backward": lambda: [sign_fn(b, temperature)[0].numpy()
                                                         for b in batches],
        "  of which: second forward on x̃": lambda: [forward(b).numpy() for b in stepped],
    }
    # Round robin: each repeat runs every variant once, so load from other processes on a shared
    # machine hits all of them alike; the median over repeats is reported.
    times = {label: [] for label in variants}
    for fn in variants.values():
        fn()  # warm up: traces and compiles
    for _ in range(repeats):
        for label, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - start)
    rows = {label: statistics.median(t) for label, t in times.items()}
    if not eager:
        return rows
    tf.config.run_functions_eagerly(True)
    try:
        eager = PerturbedPredictor(model, COUNTS, epsilon=1e-3, batch_size=batch_size)
        rows["perturbed predict (eager, no tf.function)"] = timed(lambda: eager.predict(x),
                                                                  max(1, repeats // 3))
    finally:
        tf.config.run_functions_eagerly(False)
    return rows


def run(models=("small_cnn", "mobilenetv2"), images=1024, batch_size=128, repeats=5,
        eager=True, log=None):
    """Times `bench` for each model; returns one dict per (model, timed variant).

    Args:
        models: names among `SHAPES`.
        images, batch_size: the synthetic test set and the prediction batch size.
        repeats: interleaved timing rounds (median reported).
        eager: also time the eager (no `tf.function`) perturbed prediction.
        log: `None` or a callable taking a progress line.

    Returns:
        list of dicts with keys `model`, `shape`, `what` (the variant), `seconds`,
        `ms_per_image`, `ratio_to_predict` (seconds / `model.predict`'s), `images`,
        `batch_size`, `repeats`.
    """
    rows = []
    for name in models:
        times = bench(name, images, batch_size, repeats, eager=eager)
        base = times["model.predict"]
        rows += [{"model": name, "shape": list(SHAPES[name]), "what": what.strip(),
                  "seconds": float(seconds), "ms_per_image": 1000.0 * seconds / images,
                  "ratio_to_predict": float(seconds / base), "images": images,
                  "batch_size": batch_size, "repeats": repeats}
                 for what, seconds in times.items()]
        if log:
            log(f"perturbation: {name} timed")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small_cnn", "mobilenetv2"],
                        choices=sorted(SHAPES))
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-eager", action="store_true",
                        help="skip the (slow) eager perturbed prediction row")
    parser.add_argument("--output", default=None, help="also write the table to this file")
    args = parser.parse_args(argv)

    lines = [f"Perturbed prediction cost, {args.images} images, batch size {args.batch_size}, "
             f"median of {args.repeats} runs, TensorFlow {tf.__version__}, "
             f"{os.cpu_count()} CPU threads, devices {[d.device_type for d in tf.config.list_physical_devices()]}",
             ""]
    for name in args.models:
        rows = bench(name, args.images, args.batch_size, args.repeats, eager=not args.no_eager)
        base = rows["model.predict"]
        lines += [f"### {name} {SHAPES[name]}", "",
                  "| what | seconds | ms / image | × model.predict |", "|---|---|---|---|"]
        for label, seconds in rows.items():
            lines.append(f"| {label} | {seconds:.3f} | {1000 * seconds / args.images:.3f} | "
                         f"{seconds / base:.2f} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
