"""Input-pipeline speed at 224 px: plain batches, the "flip" and "standard" augmentations, class
sampling and Balanced-MixUp (with and without flips), from a MedMNIST set resized to 224 px in
memory, and from a folder of 224-px PNG files read by the file-backed pipelines, side by side.

    python benchmarks/pipelines_224.py                  # ../shared/data/breastmnist.npz, RGB
    python benchmarks/pipelines_224.py --npz ../shared/data/pneumoniamnist.npz --limit 1000

The train split of the `.npz` (MedMNIST layout) is resized to 224 x 224 in memory (bilinear,
rounded back to uint8; greyscale repeated to 3 channels unless `--channels 1`, so that the
"standard" preset's colour jitter runs as on RGB data). Every in-memory pipeline is timed over
`--batches` batches after a warm-up, in `--repeats` interleaved rounds (the machine is shared;
interleaving spreads other load over all rows); the table reports the median images/s and the
time per image over the plain pipeline's. A reference row runs the flips through the affine warp
(`ImageProjectiveTransformV3`, with the same draws), the way flip-only augmentation ran before it
got its own path. The file-backed rows write `--files` of the images as PNG files into a
temporary folder (`train/<class>/`, removed afterwards), load it with
`data.load_folder(..., file_backed=True)` (the train split an `ImageFiles`) and time the plain
pipeline (read + decode per batch), the "standard" augmentation and Balanced-MixUp on it,
against the file-backed plain pipeline. Where the data file is absent the run is skipped with a
message (the data is never copied into the repository).

From Python (e.g. `benchmarks/run_all.py`):

    from pipelines_224 import run, format_tables, summary
    rows = run(batches=20, repeats=3, files=600)
    print(format_tables(rows))
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_NPZ = os.path.join(HERE, "..", "..", "shared", "data", "breastmnist.npz")

PLAIN = "plain (classification_dataset)"
PLAIN_FLIP = 'plain + augment="flip"'
PLAIN_WARP_FLIP = "plain + the same flips as an affine warp (ImageProjectiveTransformV3)"
PLAIN_STANDARD = 'plain + augment="standard"'
CLASS_SAMPLED = "class sampling (sampled_dataset q=0)"
BMX = "Balanced-MixUp (balanced_mixup_dataset a=0.1)"
BMX_FLIP = 'Balanced-MixUp + augment="flip"'
BMX_STANDARD = 'Balanced-MixUp + augment="standard"'
FILE_PLAIN = "files: plain (read + decode per batch)"
FILE_STANDARD = 'files: plain + augment="standard"'
FILE_BMX = "files: Balanced-MixUp"


def load_resized(npz, image_size=224, channels=3, limit=None):
    """Returns `(x uint8 (N, S, S, C), y, num_classes)`: the train split resized in memory."""
    import tensorflow as tf

    with np.load(npz, allow_pickle=False) as f:
        x, y = f["train_images"], f["train_labels"].reshape(-1).astype(np.int64)
    if limit:
        x, y = x[:limit], y[:limit]
    if x.ndim == 3:
        x = x[..., None]
    out = np.empty((len(x), image_size, image_size, x.shape[-1]), np.uint8)
    for start in range(0, len(x), 256):  # in chunks: float copies of a chunk only
        chunk = tf.image.resize(x[start:start + 256].astype(np.float32), (image_size, image_size),
                                "bilinear")
        out[start:start + 256] = np.clip(np.round(chunk.numpy()), 0, 255).astype(np.uint8)
    if channels == 3 and out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    elif channels == 1 and out.shape[-1] == 3:
        out = out[..., :1]
    return out, y, int(y.max()) + 1


def write_png_folder(x, y, folder, files):
    """Writes `files` images (spread over the classes as in `y`) as `folder/train/<class>/*.png`
    plus two images a class under `val/` and `test/`; returns the seconds it took."""
    from PIL import Image

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(y), size=min(files, len(y)), replace=False)
    num_classes = int(y.max()) + 1
    for k in range(num_classes):  # every class needs a training image
        if not np.any(y[pick] == k):
            pick[k] = np.flatnonzero(y == k)[0]
    extra = np.concatenate([np.flatnonzero(y == k)[:2] for k in range(num_classes)])
    mode = "L" if x.shape[-1] == 1 else "RGB"
    for split, index in (("train", pick), ("val", extra), ("test", extra)):
        for i in index:
            target = os.path.join(folder, split, f"class_{y[i]}")
            os.makedirs(target, exist_ok=True)
            image = x[i][..., 0] if mode == "L" else x[i]
            Image.fromarray(image, mode).save(os.path.join(target, f"{i:06d}.png"))
    return time.perf_counter() - start


def warp_flips(images, seed):
    """The "flip" preset's flips (same draws) done as a bilinear affine warp, as flip-only
    augmentation was done before it had its own path: a reference for what a warp costs."""
    import tensorflow as tf

    batch = tf.shape(images)[0]
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    draws = tf.random.stateless_uniform((batch, 6), seed=tf.cast(seed, tf.int64))
    fx = tf.where(draws[:, 0] < 0.5, -1.0, 1.0)
    fy = tf.where(draws[:, 1] < 0.5, -1.0, 1.0)
    zeros = tf.zeros((batch,))
    transforms = tf.stack([fx, zeros, (1.0 - fx) * (width - 1.0) / 2.0, zeros, fy,
                           (1.0 - fy) * (height - 1.0) / 2.0, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")


def images_per_second(ds, batches, batch_size, warmup=2):
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def _timed(section, pipelines, base, batches, repeats, batch_size):
    """Images/s of every pipeline, interleaved over `repeats` rounds; rows of `section`."""
    built = {name: make() for name, make in pipelines.items()}
    for ds in built.values():  # first batches: tracing and XLA compilation, not timed
        images_per_second(ds, 0, batch_size, warmup=2)
    rates = {name: [] for name in built}
    for _ in range(repeats):
        for name, ds in built.items():
            rates[name].append(images_per_second(ds, batches, batch_size, warmup=2))
    plain = statistics.median(rates[base])
    rows = []
    for name, values in rates.items():
        median = statistics.median(values)
        rows.append({"section": section, "name": name, "images_per_s": median,
                     "min": min(values), "max": max(values), "rates": values,
                     "time_ratio": plain / median})
    return rows


def memory_rates(x, y, num_classes, batch_size=64, batches=20, repeats=3, alpha=0.1):
    """In-memory rows (`section="memory"`), time per image relative to `PLAIN`."""
    from kerasimb import data

    b = batch_size
    pipelines = {
        PLAIN: lambda: data.classification_dataset(x, y, num_classes, b, repeat=True, seed=0),
        PLAIN_FLIP: lambda: data.classification_dataset(x, y, num_classes, b, repeat=True,
                                                        seed=0, augment="flip"),
        PLAIN_WARP_FLIP: lambda: data.classification_dataset(x, y, num_classes, b, repeat=True,
                                                             seed=0, augment=warp_flips),
        PLAIN_STANDARD: lambda: data.classification_dataset(x, y, num_classes, b, repeat=True,
                                                            seed=0, augment="standard"),
        CLASS_SAMPLED: lambda: data.sampled_dataset(x, y, 0.0, b, num_classes, seed=0),
        BMX: lambda: data.balanced_mixup_dataset(x, y, alpha, b, seed=0, num_classes=num_classes),
        BMX_FLIP: lambda: data.balanced_mixup_dataset(x, y, alpha, b, seed=0, augment="flip",
                                                      num_classes=num_classes),
        BMX_STANDARD: lambda: data.balanced_mixup_dataset(x, y, alpha, b, seed=0,
                                                          augment="standard",
                                                          num_classes=num_classes),
    }
    return _timed("memory", pipelines, PLAIN, batches, repeats, batch_size)


def file_rates(files, y, num_classes, batch_size=64, batches=8, repeats=3, alpha=0.1):
    """File-backed rows (`section="files"`), time per image relative to `FILE_PLAIN`."""
    from kerasimb import data

    b = batch_size
    pipelines = {
        FILE_PLAIN: lambda: data.classification_dataset(files, y, num_classes, b, repeat=True,
                                                        seed=0),
        FILE_STANDARD: lambda: data.classification_dataset(files, y, num_classes, b, repeat=True,
                                                           seed=0, augment="standard"),
        FILE_BMX: lambda: data.balanced_mixup_dataset(files, y, alpha, b, seed=0,
                                                      num_classes=num_classes),
    }
    return _timed("files", pipelines, FILE_PLAIN, batches, repeats, batch_size)


def run(npz=None, image_size=224, channels=3, limit=None, batch_size=64, batches=20, repeats=5,
        files=600, file_batches=12, alpha=0.1, verbose=False):
    """Runs both tables; returns row dicts.

    Rows: one `"data"` row (`description`, `num_examples`, `shape`, `batch_size`, `batches`,
    `repeats`, `files`, `file_batches`, `png_write_s`), `"memory"` rows and `"files"` rows (`name`,
    `images_per_s` median, `min`, `max`, `rates`, `time_ratio`: time per image over the plain
    row of the same table); or one `"skipped"` row (`reason`) when the data file is absent.
    `files=0` skips the file-backed table.
    """
    npz = os.path.abspath(npz or DEFAULT_NPZ)
    if not os.path.exists(npz):
        return [{"section": "skipped",
                 "reason": f"data file {npz} not found (the shared MedMNIST folder "
                           "../shared/data/ is absent); nothing measured"}]

    def log(message):
        if verbose:
            print(message, file=sys.stderr, flush=True)

    x, y, num_classes = load_resized(npz, image_size, channels, limit)
    data_row = {"section": "data", "description": f"{os.path.basename(npz)} train split resized "
                f"to {image_size} px in memory", "num_examples": int(len(y)),
                "shape": list(x.shape[1:]), "class_counts": np.bincount(y).tolist(),
                "batch_size": batch_size, "batches": batches, "repeats": repeats,
                "files": 0, "file_batches": file_batches, "alpha": alpha}
    rows = [data_row]
    rows += memory_rates(x, y, num_classes, batch_size, batches, repeats, alpha)
    log("in-memory pipelines timed")
    if files:
        from kerasimb import data

        folder = tempfile.mkdtemp(prefix="kerasimb_png224_")
        try:
            data_row["png_write_s"] = write_png_folder(x, y, folder, files)
            del x  # the file-backed rows hold paths only
            ds = data.load_folder(folder, image_size=image_size, file_backed=True,
                                  grayscale=channels == 1)
            train_x, train_y = ds.train
            data_row["files"] = len(train_y)
            rows += file_rates(train_x, train_y, ds.num_classes, batch_size, file_batches,
                               repeats, alpha)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        log("file-backed pipelines timed")
    return rows


def summary(rows):
    """Time-per-image ratios to the plain pipeline of the same table (`None` where not
    measured): `bmx`, `bmx_flip`, `standard`, `flip`, `warp_flip`, `class_sampled`,
    `bmx_standard`, `file_standard`, `file_bmx`."""
    memory = {r["name"]: r["time_ratio"] for r in rows if r["section"] == "memory"}
    files = {r["name"]: r["time_ratio"] for r in rows if r["section"] == "files"}
    return {"bmx": memory.get(BMX), "bmx_flip": memory.get(BMX_FLIP),
            "standard": memory.get(PLAIN_STANDARD), "flip": memory.get(PLAIN_FLIP),
            "warp_flip": memory.get(PLAIN_WARP_FLIP), "class_sampled": memory.get(CLASS_SAMPLED),
            "bmx_standard": memory.get(BMX_STANDARD), "file_standard": files.get(FILE_STANDARD),
            "file_bmx": files.get(FILE_BMX)}


def format_tables(rows):
    """The markdown tables of `run`'s rows (or the reason they were skipped)."""
    skipped = [r for r in rows if r["section"] == "skipped"]
    if skipped:
        return f"Skipped: {skipped[0]['reason']}."
    lines = []
    data = next((r for r in rows if r["section"] == "data"), None)
    if data:
        lines += [f"Data: {data['description']}, {data['num_examples']} images of "
                  f"{tuple(data['shape'])} uint8 (class counts {data['class_counts']}), batch "
                  f"size {data['batch_size']}, {data['batches']} batches x {data['repeats']} "
                  f"interleaved rounds after a warm-up; Balanced-MixUp a={data['alpha']}.", ""]
    for section, title in (("memory", "in memory"), ("files", "file-backed PNG folder")):
        mine = [r for r in rows if r["section"] == section]
        if not mine:
            continue
        if section == "files" and data:
            lines += ["", f"File-backed: {data['files']} PNG files of {tuple(data['shape'])} "
                          f"written in {data.get('png_write_s', 0):.1f} s, loaded with "
                          f"`load_folder(..., file_backed=True)`; {data['file_batches']} "
                          f"batches x {data['repeats']} rounds.", ""]
        lines += [f"| pipeline ({title}) | images/s (median) | min-max | time per image vs "
                  f"plain |", "|---|---:|---:|---:|"]
        lines += [f"| {r['name']} | {r['images_per_s']:,.0f} | {r['min']:,.0f}-{r['max']:,.0f} "
                  f"| {r['time_ratio']:.2f}x |" for r in mine]
    return "\n".join(lines)


# Targets (issue 16): per image, at 224 px, against the plain pipeline.
BMX_FLIP_MAX = 2.0
STANDARD_MAX = 2.0
FLIP_MAX = 1.3


def verdicts(rows):
    """`(ok or None, text)` per target; `None` for information lines without a target."""
    ratios = summary(rows)
    data = next((r for r in rows if r["section"] == "data"), None)
    size = f"{data['shape'][0]} px" if data else "224 px"
    out = []
    if ratios["bmx_flip"] is not None:
        out.append((ratios["bmx_flip"] <= BMX_FLIP_MAX,
                    f"{size}: Balanced-MixUp with flips costs {ratios['bmx_flip']:.2f}x the plain "
                    f"pipeline per image (without flips {ratios['bmx']:.2f}x) (target <= "
                    f"{BMX_FLIP_MAX}x)"))
    if ratios["standard"] is not None:
        out.append((ratios["standard"] <= STANDARD_MAX,
                    f"{size}: the \"standard\" augmentation (flips, rotation, crop, colour "
                    f"jitter) costs {ratios['standard']:.2f}x the unaugmented plain pipeline per "
                    f"image (target <= {STANDARD_MAX}x)"))
    if ratios["flip"] is not None:
        warp = (f"; the same flips as an affine warp: {ratios['warp_flip']:.2f}x"
                if ratios["warp_flip"] is not None else "")
        out.append((ratios["flip"] <= FLIP_MAX,
                    f"{size}: flip-only augmentation costs {ratios['flip']:.2f}x the "
                    f"unaugmented plain pipeline per image{warp} (target <= {FLIP_MAX}x, no "
                    f"affine warp)"))
    if ratios["file_standard"] is not None:
        out.append((None, f"{size} PNG files: \"standard\" costs {ratios['file_standard']:.2f}x "
                          f"and Balanced-MixUp {ratios['file_bmx']:.2f}x the file-backed plain "
                          f"pipeline per image (decoding dominates; no target)"))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", default=None, help="MedMNIST-layout .npz (default: "
                        "../shared/data/breastmnist.npz)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    parser.add_argument("--limit", type=int, default=None, help="use the first N train images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--files", type=int, default=600, help="PNG files to write (0: skip)")
    parser.add_argument("--file-batches", type=int, default=12)
    parser.add_argument("--alpha", type=float, default=0.1)
    args = parser.parse_args(argv)

    import tensorflow as tf

    rows = run(args.npz, args.image_size, args.channels, args.limit, args.batch_size,
               args.batches, args.repeats, args.files, args.file_batches, args.alpha,
               verbose=True)
    print(f"TF {tf.__version__}, {os.cpu_count()} CPU cores (shared)")
    print()
    print(format_tables(rows))
    print()
    for ok, text in verdicts(rows):
        print(f"- {'PASS' if ok else 'FAIL' if ok is not None else 'info'}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
