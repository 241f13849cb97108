"""Input-pipeline speed: plain instance batches, class sampling, Balanced-MixUp (tf.data) and a
straightforward Python-generator Balanced-MixUp, side by side; then a `model.fit` epoch with
Balanced-MixUp against a plain epoch on the same model.

    python benchmarks/pipelines.py                    # synthetic long-tailed 32x32x3, N=20000
    python benchmarks/pipelines.py --dataset medmnist:../shared/data/pneumoniamnist_lt.npz

Each pipeline is timed over `--batches` batches after a warm-up, repeated `--repeats` times in
interleaved order (the machine is shared; interleaving spreads other load over all rows); the
table reports the median images/s and the ratio of time per image to the plain pipeline.

When imbalanced-learn is installed (`pip install imbalanced-learn`), its Keras bridge
`imblearn.keras.BalancedBatchGenerator` (with `RandomOverSampler`, the class-balanced analogue of
class sampling) is timed beside them; it needs 2-D features, so the images are passed flattened
(a view, no copy) and each batch is reshaped back, scaled to [0, 1] and one-hot encoded like the
other pipelines' batches. Whether `model.fit` accepts it is checked on a tiny model; if the
import, the set-up or that check fails, the row gives the error instead of a speed.

From Python (e.g. `benchmarks/run_all.py`):

    from pipelines import run, format_tables
    rows = run(num_examples=20000, batches=200, repeats=5)   # list of dicts, see `run`
    print(format_tables(rows))
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

PLAIN = "plain instance (classification_dataset)"
CLASS_SAMPLED = "class sampling (sampled_dataset q=0)"
GENERATOR = "Balanced-MixUp, Python generator"
IMBLEARN = "imbalanced-learn BalancedBatchGenerator (RandomOverSampler)"


def balanced_mixup_name(alpha):
    return f"Balanced-MixUp (balanced_mixup_dataset a={alpha})"


def synthetic(n, size, channels, num_classes, ratio, seed=0):
    """Long-tailed synthetic uint8 images (exponential profile, imbalance ratio `ratio`)."""
    from kerasimb.data import long_tailed_counts

    rng = np.random.default_rng(seed)
    counts = np.asarray(long_tailed_counts(num_classes, n // 2, ratio), dtype=np.int64)
    counts = np.maximum(1, np.round(counts * n / counts.sum())).astype(int)
    y = rng.permutation(np.repeat(np.arange(num_classes), counts))
    x = rng.integers(0, 256, (len(y), size, size, channels), dtype=np.uint8)
    return x, y


def load_data(dataset=None, num_examples=20000, image_size=32, channels=3):
    """Returns `(x, y, num_classes, description)`: a kerasimb dataset's train split or synthetic."""
    if dataset:
        from kerasimb import data

        ds = data.load_dataset(dataset)
        x, y = ds.train
        return x, y, ds.num_classes, f"{dataset} train split"
    x, y = synthetic(num_examples, image_size, channels, 10, 100.0)
    return x, y, 10, "synthetic long-tailed (10 classes, imbalance ratio 100)"


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


def imblearn_batches(x, y, num_classes, batch_size, seed=0):
    """imbalanced-learn's `BalancedBatchGenerator` as an endless tf.data stream of batches shaped
    like ours (float32 images in [0, 1], one-hot float32 labels).

    Returns `(dataset, info)`: `info` holds `setup_s` (the generator's `fit_resample`), the
    imbalanced-learn version and `fit` ("ok" or the error `model.fit` raised on a tiny model).
    Raises whatever the import or the set-up raises.
    """
    import warnings

    import imblearn
    import tensorflow as tf
    from imblearn.keras import BalancedBatchGenerator
    from imblearn.over_sampling import RandomOverSampler

    try:  # images as they are: BalancedBatchGenerator validates 2-D features only
        BalancedBatchGenerator(x[:64], y[:64], batch_size=8, random_state=seed)
        images_4d = "accepted"
    except Exception as e:  # noqa: BLE001 - reported as is
        images_4d = f"refused ({type(e).__name__}: {e})"
    flat = x.reshape(len(x), -1)
    start = time.perf_counter()
    gen = BalancedBatchGenerator(flat, y, sampler=RandomOverSampler(random_state=seed),
                                 batch_size=batch_size, random_state=seed)
    info = {"setup_s": time.perf_counter() - start, "version": imblearn.__version__,
            "batches_per_epoch": len(gen), "images_4d": images_4d}
    info["fit"] = _imblearn_fit_check(flat[:256], y[:256], num_classes, seed)
    eye = np.eye(num_classes, dtype=np.float32)

    def batches():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            while True:
                for i in range(len(gen)):
                    xb, yb = gen[i]
                    yield xb.reshape(-1, *x.shape[1:]).astype(np.float32) / 255.0, eye[yb]

    # Through tf.data like the Python-generator row (Keras' own PyDataset adapter also hands
    # `model.fit` a `from_generator` dataset on the TensorFlow backend).
    spec = (tf.TensorSpec((batch_size, *x.shape[1:]), tf.float32),
            tf.TensorSpec((batch_size, num_classes), tf.float32))
    ds = tf.data.Dataset.from_generator(batches, output_signature=spec).prefetch(tf.data.AUTOTUNE)
    return ds, info


def _imblearn_fit_check(flat, y, num_classes, seed):
    """Runs `model.fit` on a `BalancedBatchGenerator` of one-hot labels; "ok" or the error."""
    import warnings

    import keras
    from imblearn.keras import BalancedBatchGenerator
    from imblearn.over_sampling import RandomOverSampler

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gen = BalancedBatchGenerator(flat.astype(np.float32) / 255.0,
                                         np.eye(num_classes, dtype=np.float32)[y],
                                         sampler=RandomOverSampler(random_state=seed),
                                         batch_size=32, random_state=seed)
            model = keras.Sequential([keras.Input(flat.shape[1:]), keras.layers.Dense(num_classes)])
            model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
            model.fit(gen, epochs=1, steps_per_epoch=2, verbose=0)
    except Exception as e:  # noqa: BLE001 - the point is to report any failure
        return f"model.fit failed: {type(e).__name__}: {e}"
    if any("super().__init__" in str(w.message) for w in caught):
        return "ok (Keras warns that this PyDataset does not call `super().__init__()`)"
    return "ok"


def images_per_second(ds, batches, batch_size):
    it = iter(ds)
    for _ in range(3):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def pipeline_rates(x, y, num_classes, batch_size=64, batches=200, repeats=5, alpha=0.1,
                   imblearn=True):
    """Images/s of every pipeline, interleaved over `repeats` rounds; returns row dicts.

    Each row: `section="pipeline"`, `name`, `images_per_s` (median), `min`, `max`, `rates`,
    `time_ratio` (time per image over the plain pipeline's), and for the imbalanced-learn row
    `setup_s`, `version`, `fit` or, where it failed, `error` (and no rates).
    """
    from kerasimb import data

    b = batch_size
    pipelines = {
        PLAIN: lambda: data.classification_dataset(x, y, num_classes, b, repeat=True, seed=0),
        CLASS_SAMPLED: lambda: data.sampled_dataset(x, y, 0.0, b, num_classes, seed=0),
        balanced_mixup_name(alpha):
            lambda: data.balanced_mixup_dataset(x, y, alpha, b, seed=0, num_classes=num_classes),
        GENERATOR: lambda: generator_balanced_mixup(x, y, alpha, b),
    }
    built = {name: make() for name, make in pipelines.items()}
    extra = {}
    if imblearn:
        try:
            built[IMBLEARN], extra = imblearn_batches(x, y, num_classes, b)
        except Exception as e:  # noqa: BLE001 - recorded in the table instead of a speed
            extra = {"error": f"{type(e).__name__}: {e}"}
    rates = {name: [] for name in built}
    slow = (GENERATOR, IMBLEARN)
    for _ in range(repeats):
        for name, ds in built.items():
            n = batches if name not in slow else max(20, batches // 5)
            rates[name].append(images_per_second(ds, n, b))
    plain = statistics.median(rates[PLAIN])
    rows = []
    for name, values in rates.items():
        med = statistics.median(values)
        row = {"section": "pipeline", "name": name, "images_per_s": med, "min": min(values),
               "max": max(values), "rates": values, "time_ratio": plain / med}
        if name == IMBLEARN:
            row.update(extra)
        rows.append(row)
    if imblearn and "error" in extra:
        rows.append({"section": "pipeline", "name": IMBLEARN, **extra})
    return rows


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


def fit_epoch_times(x, y, num_classes, batch_size=64, alpha=0.1, fit_epochs=3, steps=None):
    """Seconds per `model.fit` epoch (SmallCNN, same model and weights) of the plain pipeline and
    of Balanced-MixUp, interleaved over `fit_epochs` rounds after one untimed warm-up each.

    `steps` per epoch defaults to a full epoch (`ceil(N / batch_size)`). Returns row dicts:
    `section="fit"`, `name` ("plain" / "balanced-mixup"), `seconds` (median), `times`, `steps`,
    `round_ratios` (each round's seconds over plain's in the same round) and `time_ratio` (their
    median).
    """
    import keras

    from kerasimb import data, models

    steps = int(steps or np.ceil(len(y) / batch_size))
    keras.utils.set_random_seed(0)
    model = models.SmallCNN(x.shape[1:], num_classes)
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    fit_sets = {
        "plain": data.classification_dataset(x, y, num_classes, batch_size, repeat=True, seed=0),
        "balanced-mixup": data.balanced_mixup_dataset(x, y, alpha, batch_size, seed=0,
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
    for _ in range(fit_epochs):
        for name, ds in fit_sets.items():
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
                      callbacks=[EpochTimer(times[name])])
    rows = []
    for name, values in times.items():
        # Paired per round (each round times both pipelines back to back), so a change of load
        # between rounds cancels out of the ratio; the median of the rounds' ratios is reported.
        ratios = [t / p for t, p in zip(values, times["plain"])]
        rows.append({"section": "fit", "name": name, "seconds": statistics.median(values),
                     "times": values, "steps": steps, "round_ratios": ratios,
                     "time_ratio": statistics.median(ratios)})
    return rows


def run(dataset=None, num_examples=20000, image_size=32, channels=3, batch_size=64, batches=200,
        repeats=5, alpha=0.1, fit_epochs=3, fit_steps=None, stages=True, imblearn=True,
        verbose=False):
    """Runs the pipeline table, the Balanced-MixUp breakdown and the fit epochs; returns rows.

    Rows are dicts with a `section`: one `"data"` row (`description`, `num_examples`, `shape`,
    `dtype`, `class_counts`, `batch_size`, `alpha`), `"pipeline"` rows (`pipeline_rates`),
    `"stage"` rows (`name`, `images_per_s`; skipped with `stages=False`) and `"fit"` rows
    (`fit_epoch_times`; skipped with `fit_epochs=0`).
    """
    x, y, num_classes, description = load_data(dataset, num_examples, image_size, channels)
    rows = [{"section": "data", "description": description, "num_examples": int(len(y)),
             "shape": list(x.shape[1:]), "dtype": str(x.dtype),
             "class_counts": np.bincount(y).tolist(), "batch_size": batch_size, "alpha": alpha,
             "batches": batches, "repeats": repeats}]

    def log(message):
        if verbose:
            print(message, file=sys.stderr, flush=True)

    rows += pipeline_rates(x, y, num_classes, batch_size, batches, repeats, alpha, imblearn)
    log("pipelines timed")
    if stages:
        rates = breakdown(x, y, num_classes, batch_size, batches, repeats)
        rows += [{"section": "stage", "name": name, "images_per_s": value}
                 for name, value in rates.items()]
        log("breakdown timed")
    if fit_epochs:
        rows += fit_epoch_times(x, y, num_classes, batch_size, alpha, fit_epochs, fit_steps)
        log("fit epochs timed")
    return rows


def summary(rows):
    """The three target ratios from `run`'s rows (`None` where not measured): Balanced-MixUp's
    time per image over plain, its speed over the Python generator, its fit epoch over plain."""
    pipes = {r["name"]: r for r in rows if r["section"] == "pipeline" and "images_per_s" in r}
    bmx = next((r for name, r in pipes.items() if name.startswith("Balanced-MixUp (")), None)
    fit = {r["name"]: r for r in rows if r["section"] == "fit"}
    return {
        "bmx_vs_plain": bmx["time_ratio"] if bmx else None,
        "bmx_vs_generator": (bmx["images_per_s"] / pipes[GENERATOR]["images_per_s"]
                             if bmx and GENERATOR in pipes else None),
        "fit_ratio": fit["balanced-mixup"]["time_ratio"] if "balanced-mixup" in fit else None,
    }


def format_tables(rows):
    """The markdown tables (and ratio lines) of `run`'s rows."""
    lines = ["| pipeline | images/s (median) | min-max | time per image vs plain |",
             "|---|---|---|---|"]
    for r in rows:
        if r["section"] != "pipeline":
            continue
        if "error" in r:
            lines.append(f"| {r['name']} | not measured: {r['error']} | | |")
            continue
        lines.append(f"| {r['name']} | {r['images_per_s']:,.0f} | {r['min']:,.0f}-{r['max']:,.0f} "
                     f"| {r['time_ratio']:.2f}x |")
    notes = [r for r in rows if r["section"] == "pipeline" and r["name"] == IMBLEARN
             and "fit" in r]
    for r in notes:
        lines += ["", f"imbalanced-learn {r['version']} with Keras 3: image arrays (N, H, W, C) "
                      f"{r.get('images_4d', '?')}, so the images go in flattened to (N, H*W*C) "
                      f"and each batch is reshaped back; set-up (fit_resample) {r['setup_s']:.2f} s, "
                      f"{r['batches_per_epoch']} batches per epoch; model.fit with it: {r['fit']}."]
    stage_rows = [r for r in rows if r["section"] == "stage"]
    if stage_rows:
        lines += ["", "Where Balanced-MixUp's time goes (one map call per batch, stages added one "
                      "by one):", "", "| stage | images/s (median) |", "|---|---|"]
        lines += [f"| {r['name']} | {r['images_per_s']:,.0f} |" for r in stage_rows]
    ratios = summary(rows)
    if ratios["bmx_vs_generator"] is not None:
        lines += ["", f"Balanced-MixUp vs generator: {ratios['bmx_vs_generator']:.1f}x faster"]
    fit_rows = [r for r in rows if r["section"] == "fit"]
    if fit_rows:
        lines += ["", f"| model.fit epoch (SmallCNN, {fit_rows[0]['steps']} steps) | seconds "
                      f"(median of {len(fit_rows[0]['times'])}) | x plain, per round |",
                  "|---|---|---|"]
        for r in fit_rows:
            per_round = ", ".join(f"{v:.2f}" for v in r.get("round_ratios", []))
            lines.append(f"| {r['name']} | {r['seconds']:.2f} | {per_round} |")
        lines += ["", f"fit epoch ratio Balanced-MixUp / plain: {ratios['fit_ratio']:.3f}x (median "
                      f"of the per-round ratios)"]
    return "\n".join(lines)


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
    parser.add_argument("--fit-steps", type=int, default=None,
                        help="steps per timed fit epoch (default: a full epoch)")
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--no-imblearn", action="store_true",
                        help="skip imbalanced-learn's BalancedBatchGenerator")
    args = parser.parse_args(argv)

    import tensorflow as tf

    rows = run(args.dataset, args.num_examples, args.image_size, args.channels, args.batch_size,
               args.batches, args.repeats, args.alpha, args.fit_epochs, args.fit_steps,
               imblearn=not args.no_imblearn, verbose=True)
    d = rows[0]
    print(f"data: {d['description']}, {d['num_examples']} images of {tuple(d['shape'])} "
          f"{d['dtype']}, class counts {d['class_counts']}; batch size {d['batch_size']}; "
          f"TF {tf.__version__}, {os.cpu_count()} CPU cores (shared)")
    print()
    print(format_tables(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
