"""QuadSNet training and inference throughput (images/s) beside MobileNetV2 and ResNet50.

All models see the same synthetic input (`--image-size`, `--channels`, `--batch-size`) and are
measured side by side in one run: every round times each model in turn (training steps through
`train_on_batch` with Adam and cross-entropy, then inference through `predict_on_batch`), so
that a change in machine load hits every model alike; the table gives the median over rounds and
each model's ratio to QuadSNet. Compilation is excluded (warm-up steps first).

    python benchmarks/quadsnet_throughput.py --image-size 32 --batch-size 32 --rounds 3
    python benchmarks/quadsnet_throughput.py --output runs/bench/quadsnet.md   # also writes the table
"""

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasimb import models  # noqa: E402

DEFAULT_MODELS = ("quadsnet", "mobilenetv2", "resnet50")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="model names for models.model_fn; the first is the reference")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--num-classes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 on GPU, mixed_bfloat16 on CPU")
    parser.add_argument("--jit", action="store_true", help="compile with XLA (jit_compile=True)")
    parser.add_argument("--output", default=None, help="also write the markdown table here")
    return parser.parse_args(argv)


def build(name, shape, num_classes, jit):
    kwargs = {"resize_to_min": True} if name in models.BACKBONES else {}
    model = models.model_fn(name, **kwargs)(shape, num_classes)
    model.compile(keras.optimizers.Adam(1e-4),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=bool(jit))
    return model


def time_steps(fn, steps):
    start = time.perf_counter()
    for _ in range(steps):
        out = fn()
    np.asarray(out)  # wait for the last step
    return time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    if args.mixed_precision:
        import tensorflow as tf

        gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.config.set_dtype_policy("mixed_float16" if gpu else "mixed_bfloat16")
    shape = (args.image_size, args.image_size, args.channels)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size, *shape)).astype("float32")
    y = rng.integers(0, args.num_classes, args.batch_size).astype("int32")

    built = {}
    for name in args.models:
        keras.utils.set_random_seed(0)
        model = build(name, shape, args.num_classes, args.jit)
        params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
            model.predict_on_batch(x)
        built[name] = (model, params)

    train, infer = {n: [] for n in args.models}, {n: [] for n in args.models}
    for _ in range(args.rounds):
        for name, (model, _) in built.items():
            seconds = time_steps(lambda: model.train_on_batch(x, y), args.steps)
            train[name].append(args.steps * args.batch_size / seconds)
            seconds = time_steps(lambda: model.predict_on_batch(x), args.steps)
            infer[name].append(args.steps * args.batch_size / seconds)

    ref = args.models[0]
    t_ref, i_ref = np.median(train[ref]), np.median(infer[ref])
    lines = [
        f"Input {shape}, batch {args.batch_size}, {args.num_classes} classes, {args.steps} steps x "
        f"{args.rounds} rounds (median), policy {keras.config.dtype_policy().name}, "
        f"jit {bool(args.jit)}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, keras {keras.__version__}.",
        "",
        f"| model | trainable params | train img/s | train ratio to {ref} | "
        f"inference img/s | inference ratio to {ref} |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.models:
        t, i = np.median(train[name]), np.median(infer[name])
        lines.append(f"| {name} | {built[name][1]:,} | {t:.1f} | {t / t_ref:.2f} | {i:.1f} | "
                     f"{i / i_ref:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
