"""Training and inference throughput (images/s) of QuadSNet, MobileNetV2, ... in float32, mixed
precision and XLA, side by side in one run.

Every (model, setting) pair is built once (the setting's dtype policy in force while it is built
and compiled; XLA through `compile(jit_compile=True)`), warmed up (compilation, XLA's included,
is not timed), and then timed in interleaved rounds: each round times every pair in turn
(`train_on_batch` steps with Adam and cross-entropy, then `predict_on_batch`), so that a change
in machine load hits all of them alike. The table gives the median over rounds, each setting's
ratio to the same model in float32, and each model's float32 ratio to the first model.

Settings (`--variants`): `float32`; `mixed` (mixed_float16 on a GPU, mixed_bfloat16 otherwise;
`mixed_float16` / `mixed_bfloat16` name one); `xla` (float32 + XLA); `mixed+xla`.

    python benchmarks/quadsnet_throughput.py                        # quadsnet, mobilenetv2 at 32 px
    python benchmarks/quadsnet_throughput.py --models small_cnn quadsnet mobilenetv2 --rounds 5
    python benchmarks/quadsnet_throughput.py --variants float32 --models quadsnet resnet50

`run(...)` returns the rows as dicts (for `benchmarks/run_all.py`).
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
from kerasimb.utils import runtime  # noqa: E402

DEFAULT_MODELS = ("quadsnet", "mobilenetv2")
VARIANTS = ("float32", "mixed", "xla")
KNOWN_VARIANTS = ("float32", "mixed", "mixed_float16", "mixed_bfloat16", "xla", "mixed+xla")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="model names for models.model_fn; the first is the reference")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=KNOWN_VARIANTS,
                        help="settings timed side by side (default: float32 mixed xla)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--num-classes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-inference", action="store_true", help="time training steps only")
    parser.add_argument("--output", default=None, help="also write the markdown table here")
    return parser.parse_args(argv)


def variant_settings(variant):
    """Returns `(dtype policy, jit_compile)` of a setting name."""
    if variant not in KNOWN_VARIANTS:
        raise ValueError(f"Invalid value received for argument `variants`. Expected names among "
                         f"{KNOWN_VARIANTS}. Received: {variant!r}")
    jit = variant.endswith("xla")
    name = variant.removesuffix("+xla").removesuffix("xla") or "float32"
    return runtime.resolve_precision("auto" if name == "mixed" else name), jit


def build(name, shape, num_classes, jit):
    """`models.model_fn(name)` compiled with Adam(1e-4) and cross-entropy, in the current policy."""
    kwargs = {"resize_to_min": True} if models.min_input_size(name) is not None else {}
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


def run(models=DEFAULT_MODELS, variants=VARIANTS, image_size=32, channels=1, num_classes=2,
        batch_size=32, steps=5, warmup=2, rounds=3, inference=True, log=None):
    """Times every (model, variant) pair side by side; returns one dict per pair.

    Args:
        models: model names (`kerasimb.models.model_fn`).
        variants: setting names, see the module docstring.
        image_size, channels, num_classes, batch_size: the synthetic input.
        steps: timed steps per pair per round. warmup: untimed steps first. rounds: int.
        inference: also time `predict_on_batch`.
        log: `None` or a callable taking a progress line.

    Returns:
        list of dicts with keys `model`, `variant`, `policy`, `jit`, `params`,
        `train_images_per_s`, `train_ratio_to_float32`, `infer_images_per_s`,
        `infer_ratio_to_float32` (`None` without inference or without a float32 row), `rates`
        (per-round training images/s), `input`, `batch_size`, `steps`, `rounds`.
    """
    shape = (image_size, image_size, channels)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, *shape)).astype("float32")
    y = rng.integers(0, num_classes, batch_size).astype("int32")
    built = {}
    for name in models:
        for variant in variants:
            policy, jit = variant_settings(variant)
            keras.utils.set_random_seed(0)
            with runtime.precision_policy(policy):
                model = build(name, shape, num_classes, jit)
            for _ in range(warmup):
                model.train_on_batch(x, y)
                if inference:
                    model.predict_on_batch(x)
            built[name, variant] = (model, policy, jit)
            if log:
                log(f"built {name} {variant}")

    train = {key: [] for key in built}
    infer = {key: [] for key in built}
    for _ in range(rounds):
        for key, (model, _, _) in built.items():
            train[key].append(steps * batch_size / time_steps(lambda: model.train_on_batch(x, y),
                                                              steps))
            if inference:
                infer[key].append(steps * batch_size / time_steps(
                    lambda: model.predict_on_batch(x), steps))

    rows = []
    for (name, variant), (model, policy, jit) in built.items():
        t = float(np.median(train[name, variant]))
        i = float(np.median(infer[name, variant])) if inference else None
        base = (name, "float32")
        t0 = float(np.median(train[base])) if base in train else None
        i0 = float(np.median(infer[base])) if inference and base in infer else None
        rows.append({
            "model": name, "variant": variant, "policy": policy, "jit": jit,
            "params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "train_images_per_s": t, "train_ratio_to_float32": t / t0 if t0 else None,
            "infer_images_per_s": i, "infer_ratio_to_float32": i / i0 if i and i0 else None,
            "rates": [float(r) for r in train[name, variant]], "input": list(shape),
            "batch_size": batch_size, "steps": steps, "rounds": rounds,
        })
    return rows


def _ratio(value):
    return "" if value is None else f"{value:.2f}"


def table(rows, reference=None):
    """Markdown table of `run`'s rows; float32 ratios to the `reference` model."""
    reference = reference or rows[0]["model"]
    base = {r["model"]: r for r in rows if r["variant"] == "float32"}
    ref = base.get(reference)
    lines = [
        "| model | setting | policy | XLA | trainable params | train img/s | train × float32 | "
        f"inference img/s | inference × float32 | float32 train × {reference} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cross = ""
        if r["variant"] == "float32" and ref is not None:
            cross = _ratio(r["train_images_per_s"] / ref["train_images_per_s"])
        infer = "" if r["infer_images_per_s"] is None else f"{r['infer_images_per_s']:.1f}"
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['policy']} | {'on' if r['jit'] else 'off'} | "
            f"{r['params']:,} | {r['train_images_per_s']:.1f} | "
            f"{_ratio(r['train_ratio_to_float32'])} | {infer} | "
            f"{_ratio(r['infer_ratio_to_float32'])} | {cross} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    rows = run(args.models, args.variants, args.image_size, args.channels, args.num_classes,
               args.batch_size, args.steps, args.warmup, args.rounds,
               inference=not args.no_inference,
               log=lambda s: print(s, file=sys.stderr, flush=True))
    shape = (args.image_size, args.image_size, args.channels)
    text = "\n".join([
        f"Input {shape}, batch {args.batch_size}, {args.num_classes} classes, {args.steps} steps x "
        f"{args.rounds} rounds (median), settings side by side in one run; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"keras {keras.__version__}.",
        "",
        table(rows, args.models[0]),
    ])
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
