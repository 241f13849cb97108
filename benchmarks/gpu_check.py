"""GPU check: mixed precision and XLA against float32 for training, and the perturbation's
overhead, on every GPU present, in one command.

For each GPU (`tf.config.list_physical_devices("GPU")`), under `tf.device("/GPU:<i>")`:

- training throughput (`train_on_batch`, Adam, cross-entropy) of `--models` at `--image-size`
  px RGB in float32, mixed_float16, float32 + XLA and mixed_float16 + XLA, timed side by side in
  interleaved rounds (`benchmarks/quadsnet_throughput.py`'s `run`), each as a ratio to float32;
- the perturbed prediction of Chen et al. against plain `model.predict`
  (`benchmarks/perturbation.py`'s `run`: plain, compiled perturbation, with XLA).

The tables are printed and, with `--write`, replace the `## GPU check` section of
`benchmarks/RESULTS.md` (added at its end the first time). Without a GPU nothing is measured
and the command says so (exit status 0), unless `--cpu` asks for the same tables on the CPU
(what the test runs, at toy sizes).

    python benchmarks/gpu_check.py --write            # on a machine with GPUs
    python benchmarks/gpu_check.py --cpu --image-size 32 --models small_cnn --steps 2 --rounds 1
"""

import argparse
import datetime
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import perturbation  # noqa: E402
import quadsnet_throughput  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
HEADING = "## GPU check"
VARIANTS = ("float32", "mixed_float16", "xla", "mixed+xla")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small_cnn", "mobilenetv2", "resnet50"],
                        help="models timed in training (default: %(default)s)")
    parser.add_argument("--perturbation-models", nargs="+", default=["mobilenetv2"],
                        choices=sorted(perturbation.SHAPES),
                        help="models of the perturbation timing (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=2048,
                        help="images of the perturbation timing (default: %(default)s)")
    parser.add_argument("--cpu", action="store_true",
                        help="measure on the CPU when there is no GPU (for testing)")
    parser.add_argument("--write", action="store_true",
                        help="replace the GPU check section of benchmarks/RESULTS.md")
    parser.add_argument("--results", default=RESULTS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def devices(allow_cpu):
    """`[(tf device name, description)]`: every GPU, else the CPU when `allow_cpu`."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        out = []
        for index, gpu in enumerate(gpus):
            details = tf.config.experimental.get_device_details(gpu)
            out.append((f"/GPU:{index}", details.get("device_name", gpu.name)))
        return out
    return [("/CPU:0", "CPU")] if allow_cpu else []


def section(args, measured):
    """The markdown of the `## GPU check` section from `[(device, description, train rows,
    perturbation rows)]`."""
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [HEADING, "",
             f"Written by `python benchmarks/gpu_check.py` ({started}; TensorFlow "
             f"{tf.__version__}, Keras {keras.__version__}). Training: {args.image_size} px RGB, "
             f"batch {args.batch_size}, {args.steps} steps x {args.rounds} interleaved rounds "
             "(median); ratios are to float32 on the same device. Perturbation: "
             f"{args.images} images; ratios are to plain `model.predict`.", ""]
    for device, description, train_rows, perturb_rows in measured:
        lines += [f"### {description} ({device})", "",
                  quadsnet_throughput.table(train_rows, train_rows[0]["model"]), "",
                  "| model | what | seconds | ms / image | × model.predict |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['what']} | {r['seconds']:.3f} | "
                  f"{r['ms_per_image']:.3f} | {r['ratio_to_predict']:.2f} |"
                  for r in perturb_rows]
        lines.append("")
    return "\n".join(lines)


def replace_section(text, new):
    """`text` with its `## GPU check` section (up to the next `## ` heading) replaced by `new`,
    or `new` appended."""
    start = text.find(HEADING + "\n")
    if start < 0:
        return text.rstrip("\n") + "\n\n" + new.rstrip("\n") + "\n"
    end = text.find("\n## ", start + len(HEADING))
    tail = "" if end < 0 else text[end + 1:]
    return text[:start] + new.rstrip("\n") + "\n" + ("\n" + tail if tail else "")


def main(argv=None):
    args = parse_args(argv)
    found = devices(args.cpu)
    if not found:
        print("No GPU found: nothing measured (pass --cpu to run the same tables on the CPU).")
        return 0
    measured = []
    for device, description in found:
        print(f"{description} ({device})", file=sys.stderr, flush=True)
        with tf.device(device):
            train_rows = quadsnet_throughput.run(
                args.models, VARIANTS, image_size=args.image_size, channels=3, num_classes=2,
                batch_size=args.batch_size, steps=args.steps, warmup=2, rounds=args.rounds,
                inference=False, log=lambda s: print(s, file=sys.stderr, flush=True))
            perturb_rows = perturbation.run(args.perturbation_models, images=args.images,
                                            batch_size=args.batch_size, repeats=args.rounds,
                                            eager=False)
        measured.append((device, description, train_rows, perturb_rows))
    text = section(args, measured)
    print(text)
    if args.write:
        with open(args.results, encoding="utf-8") as f:
            old = f.read()
        with open(args.results, "w", encoding="utf-8") as f:
            f.write(replace_section(old, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
