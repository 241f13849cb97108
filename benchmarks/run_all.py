"""The benchmark suite: every speed ratio of the project measured side by side in one run, written
to `benchmarks/RESULTS.md` with the machine it ran on.

Parts (each row of a table is measured beside the others of its table, in interleaved rounds, so
that other load on a shared machine hits them alike):

- `pipelines`: input-pipeline images/s (plain instance batches, class sampling, Balanced-MixUp,
  a Python-generator Balanced-MixUp, imbalanced-learn's `BalancedBatchGenerator` when installed)
  and a `model.fit` epoch with Balanced-MixUp against a plain one (`benchmarks/pipelines.py`);
- `pipelines_224`: the same at 224 px (a MedMNIST set resized in memory, and a folder of 224-px
  PNG files read by the file-backed pipelines): plain, "flip" and "standard" augmentation, class
  sampling, Balanced-MixUp with and without flips (`benchmarks/pipelines_224.py`; skipped with a
  message where `../shared/data/` is absent);
- `training`: training images/s of QuadSNet and MobileNetV2 in float32, mixed precision
  (mixed_float16 on GPU, mixed_bfloat16 on CPU) and XLA (`benchmarks/quadsnet_throughput.py`);
- `perturbation`: perturbed prediction against plain `model.predict` (`benchmarks/perturbation.py`);
- `sampler_scale`: sampler set-up time and memory against N = 10^3 ... 10^6 labels
  (`benchmarks/sampler_scale.py`).

Each part runs in its own Python process by default (a part's TensorFlow state - dtype policy,
XLA caches, tf.data thread pools, memory - cannot affect the next; importing TensorFlow costs
about 10-20 s a part); `--in-process` runs them all here. RESULTS.md gets one table per part, a
verdict line per target, the machine (CPUs, TF/Keras versions, GPU, load average before and
after: the numbers of a loaded machine are noisier and slower, not comparable to a quiet one).

    python benchmarks/run_all.py                                  # the whole suite (see below)
    python benchmarks/run_all.py --parts pipelines perturbation   # a subset
    python benchmarks/run_all.py --quick --output /tmp/RESULTS.md # smoke-sized (tests)

The default suite costs about 3 CPU minutes (182 CPU s in the parts, most of it tracing and
compiling the six training models); on 2 cores shared with a load average of 11-14 it took 9
minutes wall. The `pipelines_224` part adds about 1 CPU minute (50 s wall on 2 shared cores).
"""

import argparse
import collections
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

PARTS = ("pipelines", "pipelines_224", "training", "perturbation", "sampler_scale")
DEFAULT_OUTPUT = os.path.join(HERE, "RESULTS.md")

# Targets (issues 3 and 10).
BMX_VS_PLAIN_MAX = 1.5
BMX_VS_GENERATOR_MIN = 5.0
FIT_RATIO_MAX = 1.05
PERTURBED_MAX = 3.0

# Sizes of each part: the default suite (about 3 CPU minutes) and --quick.
SETTINGS = {
    "pipelines": {
        "default": dict(num_examples=20000, batches=60, repeats=5, fit_epochs=3, fit_steps=40),
        "quick": dict(num_examples=2000, batches=4, repeats=1, fit_epochs=1, fit_steps=2,
                      stages=False),
    },
    "pipelines_224": {
        "default": dict(batches=20, repeats=5, files=600, file_batches=12),
        "quick": dict(image_size=32, batches=2, repeats=1, files=24, file_batches=1, limit=200),
    },
    "training": {
        "default": dict(models=("quadsnet", "mobilenetv2"), batch_size=32, steps=2, rounds=3,
                        warmup=1),
        "quick": dict(models=("small_cnn",), batch_size=8, steps=1, rounds=1, warmup=1),
    },
    "perturbation": {
        "default": dict(models=("small_cnn", "mobilenetv2"), images=128, batch_size=64,
                        repeats=3),
        "quick": dict(models=("small_cnn",), images=32, batch_size=16, repeats=1, eager=False),
    },
    "sampler_scale": {
        "default": dict(num_labels=(10**3, 10**4, 10**5, 10**6), batches=10),
        "quick": dict(num_labels=(10**3, 10**4), batches=2, num_files=4),
    },
}


def _log(message):
    print(f"[run_all {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the parts: each returns a list of JSON-able row dicts ---------------------------------------


def run_pipelines(quick=False):
    import pipelines

    return pipelines.run(**SETTINGS["pipelines"]["quick" if quick else "default"])


def run_pipelines_224(quick=False):
    import pipelines_224

    return pipelines_224.run(**SETTINGS["pipelines_224"]["quick" if quick else "default"])


def run_training(quick=False):
    """Training images/s per (model, setting): `quadsnet_throughput.run` with float32, mixed
    precision and XLA built and timed side by side (training steps only)."""
    import quadsnet_throughput

    settings = SETTINGS["training"]["quick" if quick else "default"]
    return quadsnet_throughput.run(variants=("float32", "mixed", "xla"), inference=False,
                                   log=lambda line: _log(f"training: {line}"), **settings)


def run_perturbation(quick=False):
    """Seconds per variant (`model.predict`, compiled forward, perturbed with and without XLA,
    eager) of `perturbation.run`."""
    import perturbation

    settings = SETTINGS["perturbation"]["quick" if quick else "default"]
    return perturbation.run(log=_log, **settings)


def run_sampler_scale(quick=False):
    import sampler_scale

    return sampler_scale.run(**SETTINGS["sampler_scale"]["quick" if quick else "default"])


RUNNERS = {"pipelines": run_pipelines, "pipelines_224": run_pipelines_224,
           "training": run_training,
           "perturbation": run_perturbation, "sampler_scale": run_sampler_scale}


# --- machine and process plumbing ----------------------------------------------------------------


def machine_info():
    """CPU, cores, library versions, GPUs, date and load average (imports TensorFlow)."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            gpus.append(tf.config.experimental.get_device_details(device).get("device_name",
                                                                                device.name))
        except Exception:  # noqa: BLE001 - the name is best effort
            gpus.append(device.name)
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "nproc": nproc, "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": __import__("numpy").__version__, "gpus": gpus,
            "platform": platform.platform()}


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_part(name, quick=False, in_process=False):
    """Runs one part; returns `{"part", "rows", "seconds", "cpu_seconds"}` (`"error"` instead of
    `"rows"` where it failed)."""
    cpu_start = time.process_time() if in_process else _children_cpu()
    result = _run_part(name, quick, in_process)
    cpu_end = time.process_time() if in_process else _children_cpu()
    result["cpu_seconds"] = cpu_end - cpu_start
    return result


def _run_part(name, quick, in_process):
    start = time.perf_counter()
    if in_process:
        try:
            rows = RUNNERS[name](quick)
            return {"part": name, "rows": rows, "seconds": time.perf_counter() - start}
        except Exception as e:  # noqa: BLE001 - one failed part must not lose the others
            traceback.print_exc()
            return {"part": name, "error": f"{type(e).__name__}: {e}",
                    "seconds": time.perf_counter() - start}
    with tempfile.TemporaryDirectory(prefix="run_all_") as folder:
        out = os.path.join(folder, "rows.json")
        command = [sys.executable, os.path.abspath(__file__), "--worker", name,
                   "--worker-output", out] + (["--quick"] if quick else [])
        tail = collections.deque(maxlen=20)
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) as proc:
            for line in proc.stderr:  # progress lines pass through as they come
                if line.startswith("[run_all"):
                    sys.stderr.write(line)
                    sys.stderr.flush()
                if line.strip():
                    tail.append(line.rstrip())
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not os.path.exists(out):
            last = [line for line in tail if not line.startswith(("I0000", "W0000", "E0000"))][-3:]
            return {"part": name, "seconds": seconds,
                    "error": f"exit status {proc.returncode}: " + " / ".join(last)}
        with open(out, encoding="utf-8") as f:
            return {"part": name, "rows": json.load(f), "seconds": seconds}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- formatting ----------------------------------------------------------------------------------


def _verdict(ok, text):
    return f"- **{'PASS' if ok else 'FAIL'}** {text}"


def _pipelines_section(rows):
    import pipelines

    lines = [pipelines.format_tables(rows)]
    data = next((r for r in rows if r["section"] == "data"), None)
    if data:
        lines.insert(0, f"Data: {data['description']}, {data['num_examples']} images of "
                        f"{tuple(data['shape'])} {data['dtype']}, batch size {data['batch_size']}, "
                        f"{data['batches']} batches x {data['repeats']} interleaved rounds "
                        f"(generator rows: a fifth of the batches).\n")
    ratios = pipelines.summary(rows)
    verdicts = []
    if ratios["bmx_vs_plain"] is not None:
        verdicts.append(_verdict(ratios["bmx_vs_plain"] <= BMX_VS_PLAIN_MAX,
                                 f"Balanced-MixUp costs {ratios['bmx_vs_plain']:.2f}x the plain "
                                 f"pipeline per image (target <= {BMX_VS_PLAIN_MAX}x)"))
    if ratios["bmx_vs_generator"] is not None:
        verdicts.append(_verdict(ratios["bmx_vs_generator"] >= BMX_VS_GENERATOR_MIN,
                                 f"Balanced-MixUp is {ratios['bmx_vs_generator']:.1f}x faster than "
                                 f"the Python generator (target >= {BMX_VS_GENERATOR_MIN}x)"))
    if ratios["fit_ratio"] is not None:
        verdicts.append(_verdict(ratios["fit_ratio"] <= FIT_RATIO_MAX,
                                 f"a model.fit epoch with Balanced-MixUp takes "
                                 f"{ratios['fit_ratio']:.3f}x a plain epoch (target <= "
                                 f"{FIT_RATIO_MAX}x)"))
    return "\n".join(lines), verdicts


def _pipelines_224_section(rows):
    import pipelines_224

    verdicts = []
    for ok, text in pipelines_224.verdicts(rows):
        verdicts.append(f"- {text}" if ok is None else _verdict(ok, text))
    return pipelines_224.format_tables(rows), verdicts


def _training_section(rows):
    lines = ["| model | variant | dtype policy | XLA | trainable params | train images/s (median) "
             "| min-max | x float32 |", "|---|---|---|---|---:|---:|---:|---:|"]
    base = {r["model"]: r["train_images_per_s"] for r in rows if r["variant"] == "float32"}
    verdicts = []
    for r in rows:
        ratio = r["train_images_per_s"] / base[r["model"]] if r["model"] in base else float("nan")
        params = f"{r['params']:,}" if r.get("params") is not None else ""
        spread = f"{min(r['rates']):.1f}-{max(r['rates']):.1f}" if r.get("rates") else ""
        lines.append(f"| {r['model']} | {r['variant']} | {r['policy']} | {'yes' if r['jit'] else 'no'}"
                     f" | {params} | {r['train_images_per_s']:.1f} | {spread} | {ratio:.2f}x |")
    for model in base:
        parts = []
        for r in rows:
            if r["model"] == model and r["variant"] != "float32":
                parts.append(f"{r['variant']} {r['train_images_per_s'] / base[model]:.2f}x")
        best = max((r for r in rows if r["model"] == model), key=lambda r: r["train_images_per_s"])
        verdicts.append(f"- {model}: training speed vs float32: {', '.join(parts)}; fastest here: "
                        f"{best['variant']} (measured, not assumed; no target)")
    first = rows[0] if rows else {}
    if "input" in first:
        lines.insert(0, f"Input {tuple(first['input'])}, batch {first['batch_size']}, "
                        f"`train_on_batch` with Adam, {first['steps']} steps x {first['rounds']} "
                        f"interleaved rounds, compilation excluded.\n")
    return "\n".join(lines), verdicts


FORWARD = "forward (tf.function)"
PERTURBED = "perturbed predict (tf.function)"
PERTURBED_XLA = "perturbed predict (tf.function + XLA)"


def _perturbation_section(rows):
    lines = ["| model | what | seconds | ms / image | x model.predict |", "|---|---|---:|---:|---:|"]
    base = {r["model"]: r["seconds"] for r in rows if r["what"] == "model.predict"}
    for r in rows:
        ratio = r["seconds"] / base[r["model"]] if r["model"] in base else float("nan")
        lines.append(f"| {r['model']} | {r['what']} | {r['seconds']:.3f} | "
                     f"{1000 * r['seconds'] / r['images']:.3f} | {ratio:.2f}x |")
    verdicts = []
    for model, plain in base.items():
        mine = {r["what"]: r["seconds"] for r in rows if r["model"] == model}
        if PERTURBED not in mine:
            continue
        ratio = mine[PERTURBED] / plain
        extra = []
        if FORWARD in mine:
            extra.append(f"{mine[PERTURBED] / mine[FORWARD]:.2f}x a bare compiled forward pass")
        if PERTURBED_XLA in mine:
            extra.append(f"with XLA {mine[PERTURBED_XLA] / plain:.2f}x model.predict")
        extra = f" ({'; '.join(extra)})" if extra else ""
        verdicts.append(_verdict(ratio <= PERTURBED_MAX,
                                 f"{model}: perturbed prediction takes {ratio:.2f}x plain "
                                 f"model.predict{extra} (target <= {PERTURBED_MAX}x "
                                 f"model.predict)"))
    first = rows[0] if rows else {}
    if "images" in first:
        lines.insert(0, f"{first['images']} images, batch size {first['batch_size']}, median of "
                        f"{first.get('repeats', '?')} interleaved rounds.\n")
    return "\n".join(lines), verdicts


def _sampler_section(rows):
    import sampler_scale

    try:
        lines = [sampler_scale.format_table(rows)]
    except KeyError:  # rows of another version of the module: every numeric column as it is
        keys = [k for k, v in rows[0].items() if k != "sampler" and isinstance(v, (int, float))]
        lines = ["| sampler | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        lines += ["| " + " | ".join([r["sampler"]] + [f"{r.get(k) or 0:.4g}" for k in keys]) + " |"
                  for r in rows]
    # The O(N) part: the index set-up's CPU seconds where the module measures it separately
    # (robust to other load), else the whole set-up's wall seconds.
    key = "index_cpu_s" if all("index_cpu_s" in r for r in rows) else "setup_s"
    label = "index set-up CPU time" if key == "index_cpu_s" else "set-up time"
    verdicts = []
    for sampler in dict.fromkeys(r["sampler"] for r in rows):
        mine = sorted((r for r in rows if r["sampler"] == sampler), key=lambda r: r["num_labels"])
        if len(mine) < 2 or any(r[key] <= 0 for r in mine):
            continue
        growth = ", ".join(f"{b[key] / a[key]:.1f}x" for a, b in zip(mine, mine[1:]))
        last, prev = mine[-1], mine[-2]
        exponent = math.log(last[key] / prev[key]) / math.log(last["num_labels"] / prev["num_labels"])
        memory = ""
        if prev.get("tracemalloc_peak_mb", 0) > 0:
            memory = (f"; tracemalloc peak {prev['tracemalloc_peak_mb']:.1f} -> "
                      f"{last['tracemalloc_peak_mb']:.1f} MiB "
                      f"({last['tracemalloc_peak_mb'] / prev['tracemalloc_peak_mb']:.1f}x)")
        if "rss_delta_mb" in last:
            memory += f", RSS delta at the largest N {last['rss_delta_mb']:.0f} MiB"
        verdicts.append(_verdict(
            exponent <= 1.15,
            f"{sampler}: {label} grows {growth} per 10x N ({mine[0]['num_labels']:,} -> "
            f"{last['num_labels']:,}); between the two largest N "
            f"{last[key] / prev[key]:.1f}x, i.e. ~ N^{exponent:.2f} (target: O(N), exponent "
            f"<= 1 within noise){memory}"))
    return "\n".join(lines), verdicts


SECTIONS = {
    "pipelines": ("Input pipelines (images/s) and model.fit epochs", _pipelines_section),
    "pipelines_224": ("Input pipelines at 224 px: augmentation and Balanced-MixUp, in memory and "
                      "from PNG files", _pipelines_224_section),
    "training": ("Training images/s: float32 vs mixed precision vs XLA", _training_section),
    "perturbation": ("Perturbed vs plain prediction", _perturbation_section),
    "sampler_scale": ("Sampler set-up time and memory against N", _sampler_section),
}


def _total_cpu(results):
    cpu = [r.get("cpu_seconds") for r in results]
    return "" if any(c is None for c in cpu) else f" ({sum(cpu):.0f} CPU s in the parts)"


def format_results(results, machine, load_before, load_after, started, total_seconds, quick,
                   command):
    gpu = ", ".join(machine["gpus"]) if machine["gpus"] else "none"
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}`{' (--quick: smoke-sized, not meaningful numbers)' if quick else ''}.",
        "",
        f"**Machine:** {machine['cpu']}; {machine['cpu_count']} CPUs (nproc {machine['nproc']}); "
        f"GPU: {gpu}; Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras "
        f"{machine['keras']}, NumPy {machine['numpy']}; {machine['platform']}.",
        "",
        f"**Run:** started {started} UTC, {total_seconds:.0f} s wall in all"
        f"{_total_cpu(results)}; load average (1, 5, 15 min) "
        f"before {load_before}, after {load_after}. A load average above the CPU count means other "
        f"processes shared the cores: absolute speeds are then low and noisy; the ratios, measured "
        f"side by side in interleaved rounds, are what to compare.",
        "",
        "## Verdicts",
        "",
    ]
    body, verdicts = [], []
    for result in results:
        title, section = SECTIONS[result["part"]]
        cpu = (f", {result['cpu_seconds']:.0f} CPU s" if result.get("cpu_seconds") is not None
               else "")
        body += [f"## {title}", "", f"Part `{result['part']}`: {result['seconds']:.0f} s wall{cpu}.",
                 ""]
        if "error" in result:
            body += [f"Failed: {result['error']}", ""]
            verdicts.append(f"- **ERROR** {result['part']}: {result['error']}")
            continue
        text, part_verdicts = section(result["rows"])
        body += [text, ""]
        verdicts += part_verdicts
    lines += verdicts or ["- (no part produced a verdict)"]
    lines += [""] + body
    return "\n".join(lines).rstrip() + "\n"


# --- command line --------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS,
                        help="parts to run (default: all), in this order")
    parser.add_argument("--quick", action="store_true",
                        help="smoke-sized runs (seconds; the numbers mean nothing)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help="markdown file to write (default: benchmarks/RESULTS.md)")
    parser.add_argument("--json", default=None, help="also write every row as JSON here")
    parser.add_argument("--in-process", action="store_true",
                        help="run the parts in this process instead of one subprocess each")
    parser.add_argument("--worker", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-output", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:  # one part, rows as JSON (the parent formats them)
        from kerasimb.utils import write_text

        rows = RUNNERS[args.worker](args.quick)
        write_text(args.worker_output, json.dumps(_jsonable(rows)))
        return 0

    from kerasimb.utils import write_text

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    start = time.perf_counter()
    load_before = load_average()
    machine = machine_info()
    results = []
    for name in dict.fromkeys(args.parts):
        _log(f"part {name} ...")
        result = run_part(name, args.quick, args.in_process)
        result["rows"] = _jsonable(result.get("rows", []))
        _log(f"part {name}: {'failed' if 'error' in result else 'done'} in {result['seconds']:.0f} s")
        results.append(result)
    load_after = load_average()
    command = "python benchmarks/run_all.py" + (" --quick" if args.quick else "") + (
        f" --parts {' '.join(args.parts)}" if list(args.parts) != list(PARTS) else "")
    text = format_results(results, machine, load_before, load_after, started,
                          time.perf_counter() - start, args.quick, command)
    write_text(args.output, text)
    if args.json:
        write_text(args.json, json.dumps({"machine": machine, "load_before": load_before,
                                          "load_after": load_after, "results": results}, indent=1))
    print(text)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
