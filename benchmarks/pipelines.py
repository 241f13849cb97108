"""Input-pipeline speed: plain instance batches, class sampling, Balanced-MixUp (tf.data) and a
straightforward Python-generator Balanced-MixUp, side by side; then a `model.fit` epoch with
Balanced-MixUp against a plain epoch on the same model.

    python benchmarks/pipelines.py                    # synthetic long-tailed 32x32x3, N=20000
    python benchmarks/pipelines.py --dataset medmnist:../shared/data/pneumoniamnist_lt.npz

Each pipeline is timed over `--batches` batches after a warm-up, repeated `--repeats` times in
interleaved order (the machine is shared; interleaving spreads other load over all rows); the
table reports the median images/s and the ratio of time per image to the plain pipeline.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def synthetic(n, size, channels, num_classes, ratio, seed=0):
    """Long-tailed synthetic uint8 images (exponential profile, imbalance ratio `ratio`)."""
    from kerasimb.data import long_tailed_counts

    rng = np.random.default_rng(seed)
    counts = np.asarray(long_tailed_counts(num_classes, n // 2, ratio), dtype=np.int64)
    counts = np.maximum(1, np.round(counts * n / counts.sum())).astype(int)
    y = rng.permutation(np.repeat(np.arange(num_classes), counts))
    x = rng.integers(0, 256, (len(y), size, size, channels), dtype=np.uint8)
    return x, y


def generator_balanced_mixup(x, y, alpha, batch_size, seed=0):
    """The straightforward implementation: numpy in a Python generator, wrapped in tf.data."""
    import tensorflow as tf

    num_classes = int(y.max()) + 1
    by_class = [np.flatnonzero(y == k) for k in range(num_classes)]

    def gen():
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(y))
            for start in range(0, len(y) - batch_size + 1, batch_size):
                index_i = order[start:start + batch_size]
                classes = rng.integers(0, num_classes, batch_size)
                index_c = np.array([rng.choice(by_class[k]) for k in classes])
                lam = rng.random() ** (1.0 / alpha)
                x_mix = (1 - lam) * (x[index_i] / 255.0) + lam * (x[index_c] / 255.0)
                y_mix = (1 - lam) * np.eye(num_classes)[y[index_i]] + lam * np.eye(num_classes)[classes]
                yield x_mix.astype(np.float32), y_mix.astype(np.float32)

    spec = (tf.TensorSpec((batch_size, *x.shape[1:]), tf.float32),
            tf.TensorSpec((batch_size, num_classes), tf.float32))
    return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(tf.data.AUTOTUNE)


def breakdown(x, y, num_classes, batch_size, batches, repeats):
    """Images/s of Balanced-MixUp's stages: the instance index stream alone, + class index
    draw, + gathers and uint8->float casts of both batches, + the mix (the full pipeline)."""
    import tensorflow as tf

    from kerasimb import data
    from kerasimb.data.mixing import _instance_batches
    from kerasimb.data.sampling import IndexTable, step_seeds

    images = tf.convert_to_tensor(x)
    table = IndexTable(y, num_classes)
    uniform = tf.fill((num_classes,), 1.0 / num_classes)

    def stream(fn):
        ds = tf.data.Dataset.zip(tf.data.Dataset.counter(), _instance_batches(len(y), batch_size, 0))
        return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def draw(step, index_i):
        index_c, _ = table.draw(uniform, batch_size, step_seeds(0, step, 1)[0])
        return index_i, index_c

    def gather(step, index_i):
        index_i, index_c = draw(step, index_i)
        both = tf.cast(tf.gather(images, tf.concat([index_i, index_c], 0)), tf.float32) / 255.0
        return both[:batch_size], both[batch_size:]

    stages = {
        "instance index batches only": stream(lambda step, index: index),
        "+ class index draw (categorical + offsets)": stream(draw),
        "+ gather and cast both batches": stream(gather),
        "+ mix images and labels (full pipeline)":
            data.balanced_mixup_dataset(x, y, 0.1, batch_size, seed=0, num_classes=num_classes),
    }
    rates = {name: [] for name in stages}
    for _ in range(repeats):
        for name, ds in stages.items():
            rates[name].append(images_per_second(ds, batches, batch_size))
    return {name: statistics.median(values) for name, values in rates.items()}


def images_per_second(ds, batches, batch_size):
    it = iter(ds)
    for _ in range(3):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="a kerasimb dataset name (default: synthetic)")
    parser.add_argument("--num-examples", type=int, default=20000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fit-epochs", type=int, default=3, help="timed fit epochs per pipeline")
    parser.add_argument("--alpha", type=float, default=0.1)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from kerasimb import data, models

    if args.dataset:
        ds = data.load_dataset(args.dataset)
        x, y = ds.train
        num_classes = ds.num_classes
        source = f"{args.dataset} train split"
    else:
        num_classes = 10
        x, y = synthetic(args.num_examples, args.image_size, args.channels, num_classes, 100.0)
        source = "synthetic long-tailed (10 classes, imbalance ratio 100)"
    b = args.batch_size
    print(f"data: {source}, {len(y)} images of {x.shape[1:]} {x.dtype}, class counts "
          f"{np.bincount(y).tolist()}; batch size {b}; TF {tf.__version__}, "
          f"{os.cpu_count()} CPU cores (shared)")

    pipelines = {
        "plain instance (classification_dataset)":
            lambda: data.classification_dataset(x, y, num_classes, b, repeat=True, seed=0),
        "class sampling (sampled_dataset q=0)":
            lambda: data.sampled_dataset(x, y, 0.0, b, num_classes, seed=0),
        f"Balanced-MixUp (balanced_mixup_dataset a={args.alpha})":
            lambda: data.balanced_mixup_dataset(x, y, args.alpha, b, seed=0, num_classes=num_classes),
        "Balanced-MixUp, Python generator":
            lambda: generator_balanced_mixup(x, y, args.alpha, b),
    }
    built = {name: make() for name, make in pipelines.items()}
    rates = {name: [] for name in pipelines}
    for _ in range(args.repeats):
        for name, ds in built.items():
            batches = args.batches if "generator" not in name else max(20, args.batches // 5)
            rates[name].append(images_per_second(ds, batches, b))
    plain = statistics.median(rates[next(iter(rates))])
    print()
    print("| pipeline | images/s (median) | min-max | time per image vs plain |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"| {name} | {med:,.0f} | {min(values):,.0f}-{max(values):,.0f} | {plain / med:.2f}x |")
    print()
    print("Where Balanced-MixUp's time goes (one map call per batch, stages added one by one):")
    print()
    print("| stage | images/s (median) |")
    print("|---|---|")
    for name, value in breakdown(x, y, num_classes, b, args.batches, args.repeats).items():
        print(f"| {name} | {value:,.0f} |")
    bmx = statistics.median(rates[list(rates)[2]])
    gen = statistics.median(rates[list(rates)[3]])
    print(f"\nBalanced-MixUp vs generator: {bmx / gen:.1f}x faster")
    sys.stdout.flush()

    # model.fit: same model and weights, plain epoch vs Balanced-MixUp epoch.
    steps = int(np.ceil(len(y) / b))
    keras.utils.set_random_seed(0)
    model = models.SmallCNN(x.shape[1:], num_classes)
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    fit_sets = {
        "plain": data.classification_dataset(x, y, num_classes, b, repeat=True, seed=0),
        "balanced-mixup": data.balanced_mixup_dataset(x, y, args.alpha, b, seed=0,
                                                      num_classes=num_classes),
    }
    times = {name: [] for name in fit_sets}

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.out.append(time.perf_counter() - self.start)

    for name, ds in fit_sets.items():  # warm-up: trace and compile once per pipeline
        model.fit(ds, epochs=1, steps_per_epoch=5, verbose=0, shuffle=False)
    for _ in range(args.fit_epochs):
        for name, ds in fit_sets.items():
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
                      callbacks=[EpochTimer(times[name])])
    print()
    print(f"| model.fit epoch (SmallCNN, {steps} steps) | seconds (median of {args.fit_epochs}) |")
    print("|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    ratio = statistics.median(times["balanced-mixup"]) / statistics.median(times["plain"])
    print(f"\nfit epoch ratio Balanced-MixUp / plain: {ratio:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
