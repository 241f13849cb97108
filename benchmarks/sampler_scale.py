"""Sampler scale: set-up time, memory and time per batch against N labels (10^3 ... 10^6).

Builds the file-backed samplers (`data.ImageFiles` + `data.sampled_dataset` with class sampling
q=0, and `data.balanced_mixup_dataset`) from N labels and N file paths, and reports per N:

- index set-up: CPU seconds of the process (robust to other load on a shared machine) to build
  the O(N) structures alone: `ImageFiles(paths)` with its path table, the label checks, the
  class index table and the label tensor; this is the part that must grow linearly;
- pipeline set-up: wall seconds to build the whole sampler (the above plus tracing the tf.data
  functions, a constant of a few tenths of a second that dominates small N); a warm-up build
  runs first so that TensorFlow's one-time start-up is not charged to the first row;
- first batch: seconds to the first batch (starting the iterator, the instance stream's first
  permutation of N indices for Balanced-MixUp, reading and decoding the first files);
- batch: milliseconds per batch afterwards (draw indices, read + decode only the drawn files,
  no augmentation), wall clock and CPU of the process (all tf.data threads; on a shared machine
  the CPU figure is the steadier one); neither should depend on N;
- tracemalloc peak: the largest Python/numpy allocation total during set-up (numpy reports its
  buffers to tracemalloc; TensorFlow's C++ tensors are not seen);
- RSS delta: growth of the process's resident memory from before set-up to after the timed
  batches (`/proc/self/statm`), which does include TensorFlow's tensors and tf.data buffers;
  it is coarse (allocator pages, lazily freed memory) and meaningful mainly at large N;
- ratios: index set-up, tracemalloc peak and RSS delta over the previous N's (about 10 for
  linear growth when N grows tenfold; at small N constant costs dominate, so a ratio is below
  10 there, and RSS deltas of a few MiB are allocator noise).

The images are a few real PNG files (`--num-files`, distinct pixels) repeated under N path
entries (`paths[i] = files[i % num_files]`): decoding is real, disk use is not N files. Labels
are long-tailed (exponential profile, `--num-classes`, `--imbalance-ratio`) and shuffled.

    python benchmarks/sampler_scale.py                      # N = 1e3, 1e4, 1e5, 1e6
    python benchmarks/sampler_scale.py --num-labels 1000 10000 --batches 10

From Python (e.g. `benchmarks/run_all.py`):

    from sampler_scale import run, format_table
    rows = run(num_labels=(10**3, 10**4, 10**5, 10**6))   # list of dicts, one per (sampler, N)
    print(format_table(rows))
"""

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SAMPLERS = ("class-sampled", "balanced-mixup")


def make_files(folder, num_files=64, image_size=32, channels=3, seed=0):
    """Writes `num_files` random PNG images into `folder`; returns their paths (bytes array)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num_files):
        pixels = rng.integers(0, 256, (image_size, image_size, channels), dtype=np.uint8)
        path = os.path.join(folder, f"image_{i:04d}.png")
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(path)
        paths.append(os.fsencode(path))
    return np.asarray(paths)


def make_labels(num_labels, num_classes=10, imbalance_ratio=100.0, seed=0):
    """Shuffled long-tailed int64 labels `(num_labels,)`, exponential profile, every class present."""
    from kerasimb.data import long_tailed_counts

    counts = np.asarray(long_tailed_counts(num_classes, 10**6, imbalance_ratio), np.float64)
    counts = np.maximum(1, np.floor(counts / counts.sum() * num_labels)).astype(np.int64)
    counts[0] += num_labels - counts.sum()
    rng = np.random.default_rng(seed)
    return rng.permutation(np.repeat(np.arange(num_classes, dtype=np.int64), counts))


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _build(sampler, files, labels, batch_size, image_size, seed):
    from kerasimb import data

    images = data.ImageFiles(files, image_size=image_size, channels=3)
    if sampler == "class-sampled":
        return data.sampled_dataset(images, labels, q=0.0, batch_size=batch_size, seed=seed)
    if sampler == "balanced-mixup":
        return data.balanced_mixup_dataset(images, labels, alpha=0.1, batch_size=batch_size,
                                           seed=seed)
    raise ValueError(f"Invalid value received for argument `samplers`. Expected names among "
                     f"{list(SAMPLERS)}. Received: {sampler!r}")


def index_setup(files, labels, image_size=32):
    """Builds only the O(N) structures a sampler needs; returns process CPU seconds.

    `ImageFiles(paths)` with its path table, the label checks and the class index table
    (`sampling.IndexTable`), without tracing any tf.data function.
    """
    import tensorflow as tf

    from kerasimb import data
    from kerasimb.data.sampling import IndexTable, check_pipeline_inputs

    gc.collect()
    start = time.process_time()
    images = data.ImageFiles(files, image_size=image_size, channels=3)
    images.gather_paths([0])
    _, y, num_classes, _, _ = check_pipeline_inputs(images, labels, None, 1)
    table = IndexTable(y, num_classes)
    tf.convert_to_tensor(y, tf.int64)
    elapsed = time.process_time() - start
    del images, table
    return elapsed


def measure(sampler, files, labels, batch_size=64, batches=10, image_size=32, seed=0):
    """Builds one sampler and times it; returns a row dict (see the module docstring)."""
    index_cpu = index_setup(files, labels, image_size)
    gc.collect()
    rss_before = _rss_bytes()
    tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    ds = _build(sampler, files, labels, batch_size, image_size, seed)
    setup, setup_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    start = time.perf_counter()
    iterator = iter(ds)
    images, _ = next(iterator)
    first = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(batches):
        images, _ = next(iterator)
    per_batch = (time.perf_counter() - start) / max(batches, 1)
    cpu_per_batch = (time.process_time() - cpu_start) / max(batches, 1)
    rss_delta = _rss_bytes() - rss_before
    if tuple(images.shape) != (batch_size, image_size, image_size, 3):
        raise RuntimeError(f"unexpected batch shape {tuple(images.shape)}")
    del iterator, ds, images
    gc.collect()
    return {
        "sampler": sampler,
        "num_labels": int(len(labels)),
        "index_cpu_s": index_cpu,
        "setup_s": setup,
        "setup_cpu_s": setup_cpu,
        "first_batch_s": first,
        "batch_ms": 1000.0 * per_batch,
        "batch_cpu_ms": 1000.0 * cpu_per_batch,
        "tracemalloc_peak_mb": peak / 2**20,
        "rss_delta_mb": rss_delta / 2**20,
    }


def run(num_labels=(10**3, 10**4, 10**5, 10**6), samplers=SAMPLERS, batch_size=64, batches=10,
        num_files=64, image_size=32, num_classes=10, imbalance_ratio=100.0, seed=0,
        verbose=False):
    """Measures every sampler at every N (in increasing N); returns a list of row dicts.

    Each row: `sampler`, `num_labels`, `index_cpu_s`, `setup_s`, `setup_cpu_s`,
    `first_batch_s`, `batch_ms`, `batch_cpu_ms`, `tracemalloc_peak_mb`, `rss_delta_mb`, and `index_ratio` /
    `setup_ratio` / `rss_ratio` / `tracemalloc_ratio` (over the same sampler's previous N;
    `None` on its first row).
    """
    num_labels = sorted(int(n) for n in num_labels)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sampler_scale_") as folder:
        base = make_files(folder, num_files, image_size, seed=seed)
        for sampler in samplers:  # warm-up: TensorFlow's one-time start-up costs, not recorded
            labels = make_labels(max(1000, num_classes), num_classes, imbalance_ratio, seed)
            measure(sampler, base[np.arange(len(labels)) % len(base)], labels, batch_size, 1,
                    image_size, seed)
        for n in num_labels:
            labels = make_labels(n, num_classes, imbalance_ratio, seed)
            paths = base[np.arange(n) % len(base)]  # few real files under n path entries
            for sampler in samplers:
                row = measure(sampler, paths, labels, batch_size, batches, image_size, seed)
                previous = next((r for r in reversed(rows) if r["sampler"] == sampler), None)
                for key, ratio in (("index_cpu_s", "index_ratio"), ("setup_s", "setup_ratio"),
                                   ("rss_delta_mb", "rss_ratio"),
                                   ("tracemalloc_peak_mb", "tracemalloc_ratio")):
                    row[ratio] = (row[key] / previous[key]
                                  if previous is not None and previous[key] > 0 else None)
                rows.append(row)
                if verbose:
                    print(f"  {sampler} N={n}: set-up {row['setup_s']:.3f} s, "
                          f"{row['batch_ms']:.1f} ms/batch", file=sys.stderr, flush=True)
            del labels, paths
    return rows


def format_table(rows):
    """Returns the rows as a markdown table."""
    def ratio(value):
        return "" if value is None else f"{value:.1f}x"

    lines = [
        "| sampler | N labels | index set-up CPU s | ratio | pipeline set-up s | first batch s | "
        "ms / batch | CPU ms / batch | tracemalloc peak MiB | ratio | RSS delta MiB | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sampler']} | {r['num_labels']:,} | {r['index_cpu_s']:.3f} | "
            f"{ratio(r['index_ratio'])} | {r['setup_s']:.2f} | {r['first_batch_s']:.2f} | "
            f"{r['batch_ms']:.1f} | {r['batch_cpu_ms']:.1f} | "
            f"{r['tracemalloc_peak_mb']:.1f} | {ratio(r['tracemalloc_ratio'])} | "
            f"{r['rss_delta_mb']:.1f} | {ratio(r['rss_ratio'])} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-labels", type=int, nargs="+",
                        default=[10**3, 10**4, 10**5, 10**6])
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--num-files", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(args.num_labels, args.samplers, args.batch_size, args.batches, args.num_files,
               args.image_size, seed=args.seed, verbose=True)
    print(format_table(rows))
    print(f"\nbatch size {args.batch_size}, {args.num_files} PNG files of "
          f"{args.image_size}x{args.image_size}x3 repeated under N paths, 10 classes "
          f"(imbalance ratio 100); total {time.perf_counter() - start:.0f} s")
    return rows


if __name__ == "__main__":
    main()
