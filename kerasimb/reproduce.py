"""Reproducing every paper at once: the papers' headline claims as data, and a verdict rule.

`kerasimb reproduce` (and `recipes/reproduce.py`) runs each recipe in `recipes/` (except `tune`
and `reproduce`) at a budget, each as a subprocess writing its `metrics.json` into its own
folder, then checks each claim of `CLAIMS` against those files and writes one report.

A claim says "`method` beats `baseline` on `metrics`". Its two sides are *selectors* on the run
records of a recipe's `metrics.json` (its `"runs"` list, one record per run, e.g. per seed):
`{"where": {key: value, ...}, "field": "report"}` picks the records whose keys match and reads
each metric from `record[field]` (default field `"report"`, the `experiment.compare` format; a
recipe with its own format names its own field, e.g. `"with"` / `"without"`). A plain string is
short for `{"where": {"method": <string>}}`. Every `metrics.json` under the recipe's folder is
tried in path order; the first one holding both sides is used.

The verdict rule (per metric, then per claim):

- Let `m`, `b` be the means over seeds of the method and the baseline, `s_m`, `s_b` their
  sample standard deviations (ddof=1), and `d = m - b`, `spread = sqrt(s_m**2 + s_b**2)`.
- `"reproduced"` when `d > spread` and both sides have at least 2 values (the method is ahead
  by more than the seed-to-seed spread);
- `"not reproduced"` when `d <= 0` (the method is not ahead on average);
- `"mixed"` otherwise: ahead on average, but by no more than the spread, or with a single
  value on either side (no spread to judge by).

A claim over several metrics is `"reproduced"` when every metric is, `"not reproduced"` when
every metric is, and `"mixed"` otherwise. A claim whose recipe is missing, failed or produced no
matching runs is `"not run"`, with the reason.

Example:

>>> verdict([0.80, 0.82, 0.81], [0.70, 0.71, 0.69])
'reproduced'
>>> verdict([0.70, 0.72], [0.71, 0.70])
'mixed'
>>> verdict([0.60], [0.70])
'not reproduced'
>>> combine(["reproduced", "mixed"])
'mixed'
"""

import glob
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice

__all__ = ["BUDGETS", "CLAIMS", "RECIPE_ARGS", "check_claim", "combine", "evaluate_claims",
           "recipe_command", "report_markdown", "run_recipes", "verdict"]

REPRODUCED, NOT_REPRODUCED, MIXED, NOT_RUN = "reproduced", "not reproduced", "mixed", "not run"

# Flags every recipe gets at each budget (`kerasimb.cli.add_run_arguments` flags).
# small: minutes per recipe on digits-lt on a CPU (SmallCNN learns digits-lt in ~15 epochs of its
# 8 steps; fewer epochs leave every method near chance and every verdict meaningless).
BUDGETS = {
    "small": {"epochs": 15, "seeds": [0, 1]},
    "medium": {"epochs": 30, "seeds": [0, 1, 2]},
}

# Extra flags per recipe and budget, to keep a recipe within the budget (fewer rows, models).
# A recipe not listed here runs with the budget's shared flags only.
RECIPE_ARGS = {
    "balanced_mixup": {"small": ["--alphas", "0.1", "--no-loss-rows"],
                       "medium": ["--alphas", "0.1", "0.2", "0.3"]},
    "metric_learning": {"small": ["--no-ablation", "--stage2-epochs", "5", "--warmup-epochs", "2"],
                        "medium": ["--no-ablation", "--stage2-epochs", "5"]},
    "perturbed_inference": {"small": ["--backbones", "small_cnn", "--baselines", "ce"],
                            "medium": ["--backbones", "small_cnn", "mobilenetv2",
                                       "--image-size", "32"]},
    "aduni": {"small": ["--rows", "ce", "paco", "aduni", "--no-ablation", "--samplers"],
              "medium": []},
    "quadsnet": {"small": ["--models", "quadsnet", "mobilenetv2", "--image-size", "32"],
                 "medium": ["--models", "quadsnet", "quadsnet-ce", "mobilenetv2", "resnet50",
                            "--image-size", "32"]},
}

# The papers' headline claims. `paper_figures`: the paper's own numbers where a recipe reports
# them (`None`: not reported by the recipe).
CLAIMS = [
    {
        "recipe": "balanced_mixup",
        "paper": "Galdran et al., Balanced-MixUp, MICCAI 2021",
        "claim": "Balanced-MixUp (α = 0.1) beats instance sampling on quadratic kappa and MCC",
        "method": "balanced-mixup",
        "baseline": "ce",
        "metrics": ["quadratic_kappa", "mcc"],
        "paper_figures": None,
    },
    {
        "recipe": "metric_learning",
        "paper": "Zeng et al., two-stage metric learning, arXiv:2207.06975",
        "claim": "CE + SupCon, then head-only cRW, beats CE then cRW on mean class recall and "
                 "macro-F1",
        "method": "supcon-crw",
        "baseline": "ce-crw",
        "metrics": ["balanced_accuracy", "macro_f1"],
        "paper_figures": None,
    },
    {
        "recipe": "perturbed_inference",
        "paper": "Chen et al., perturbed input at inference, MICCAI 2021",
        "claim": "Perturbing the input at inference raises mean class recall (MCR) and smallest "
                 "class recall (SCR) of the same CE-trained model",
        "method": {"where": {"method": "ce"}, "field": "with"},
        "baseline": {"where": {"method": "ce"}, "field": "without"},
        "metrics": ["mcr", "scr"],
        "paper_figures": None,
    },
    {
        "recipe": "aduni",
        "paper": "Cong et al., AdUni, MLMI 2022",
        "claim": "AduC (adaptive unified contrastive loss) beats cross-entropy on accuracy and "
                 "macro-F1",
        "method": "aduni",
        "baseline": "ce",
        "metrics": ["accuracy", "macro_f1"],
        "paper_figures": "ISIC2018: AdUni 87.1% accuracy, 79.0% macro-F1; APTOS2019: 83.3%, "
                         "69.4% (ResNet-18, 384x384, 400 epochs; the authors' README)",
    },
    {
        "recipe": "quadsnet",
        "paper": "Ali et al., QuadSNet, IJACSA 12(7) 2021",
        "claim": "QuadSNet with the class-weighted margin loss beats a keras.applications CNN "
                 "(MobileNetV2, cross-entropy) on accuracy and macro-F1",
        "method": "QuadSNet + weighted margin loss",
        "baseline": "MobileNetV2",
        "metrics": ["accuracy", "macro_f1"],
        "paper_figures": None,
    },
]


def _finite(values):
    out = []
    for v in values:
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            out.append(v)
    return out


def _stats(values):
    values = _finite(values)
    if not values:
        return None, None, 0
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), std, len(values)


@kerasimb_export("kerasimb.reproduce.verdict", serializable=False)
def verdict(method_values, baseline_values):
    """Returns the verdict for one metric from the per-seed values of both sides.

    See the module docstring for the rule: `"reproduced"` when the method's mean exceeds the
    baseline's by more than `sqrt(s_m**2 + s_b**2)` with at least 2 values a side, `"not
    reproduced"` when it does not exceed it at all, `"mixed"` otherwise; `"not run"` when
    either side has no finite value.

    Args:
        method_values: sequence of floats (one per seed); non-finite values are left out.
        baseline_values: sequence of floats.

    Returns:
        str.

    Example:

    >>> verdict([0.9, 0.8], [0.5, 0.6])
    'reproduced'
    """
    m, s_m, n_m = _stats(method_values)
    b, s_b, n_b = _stats(baseline_values)
    if not n_m or not n_b:
        return NOT_RUN
    d = m - b
    if d <= 0:
        return NOT_REPRODUCED
    if n_m < 2 or n_b < 2:
        return MIXED
    spread = math.sqrt(s_m ** 2 + s_b ** 2)
    return REPRODUCED if d > spread else MIXED


def combine(verdicts):
    """Combines per-metric verdicts: all equal -> that one; any `"not run"` -> `"not run"`;
    else `"mixed"`."""
    verdicts = list(verdicts)
    if not verdicts or NOT_RUN in verdicts:
        return NOT_RUN
    return verdicts[0] if len(set(verdicts)) == 1 else MIXED


def _selector(side):
    if isinstance(side, str):
        return {"where": {"method": side}, "field": "report"}
    return {"where": dict(side.get("where", {})), "field": side.get("field", "report")}


def _describe(side):
    sel = _selector(side)
    text = ", ".join(f"{k}={v}" for k, v in sel["where"].items())
    return text if sel["field"] == "report" else f"{text} [{sel['field']}]"


def _select(runs, side, metric):
    sel = _selector(side)
    values = []
    for run in runs:
        if all(run.get(k) == v for k, v in sel["where"].items()):
            container = run.get(sel["field"])
            if isinstance(container, dict) and metric in container:
                values.append(container[metric])
    return values


def check_claim(claim, folder):
    """Checks one claim against the `metrics.json` files under `folder`; returns a result dict.

    Returns:
        dict with the claim's keys plus `verdict`, `per_metric` (`{metric: {"method": (mean,
        std, n), "baseline": (mean, std, n), "verdict": str}}`), `source` (the file used) and
        `reason` (why it is `"not run"`, else `""`).
    """
    result = {**claim, "per_metric": {}, "source": None, "reason": "", "verdict": NOT_RUN}
    files = sorted(glob.glob(os.path.join(folder, "**", "metrics.json"), recursive=True))
    if not files:
        result["reason"] = f"no metrics.json under {folder}"
        return result
    labels = set()
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                runs = json.load(f).get("runs", [])
        except (OSError, ValueError, AttributeError) as e:
            result["reason"] = f"unreadable {path}: {e}"
            continue
        labels |= {str(r.get("method")) for r in runs if isinstance(r, dict)}
        per_metric = {}
        for metric in claim["metrics"]:
            mv = _select(runs, claim["method"], metric)
            bv = _select(runs, claim["baseline"], metric)
            if not _finite(mv) or not _finite(bv):
                break
            per_metric[metric] = {"method": _stats(mv), "baseline": _stats(bv),
                                  "verdict": verdict(mv, bv)}
        else:
            result.update(per_metric=per_metric, source=path, reason="",
                          verdict=combine(v["verdict"] for v in per_metric.values()))
            return result
    if not result["reason"]:
        result["reason"] = (f"no runs of both {_describe(claim['method'])!r} and "
                            f"{_describe(claim['baseline'])!r} with {claim['metrics']} in "
                            f"{len(files)} metrics.json file(s); methods found: {sorted(labels)}")
    return result


def recipe_command(recipe_path, dataset, budget, output, data_dir=None, extra=None):
    """Returns the subprocess argv that runs one recipe at `budget` into `output`."""
    check_choice(budget, "budget", tuple(BUDGETS))
    name = os.path.splitext(os.path.basename(recipe_path))[0]
    b = BUDGETS[budget]
    argv = [sys.executable, recipe_path, "--dataset", dataset, "--epochs", str(b["epochs"]),
            "--seeds", *map(str, b["seeds"]), "--output", output, "--no-progress"]
    if data_dir:
        argv += ["--data-dir", data_dir]
    argv += list(RECIPE_ARGS.get(name, {}).get(budget, []))
    return argv + list(extra or [])


def run_recipes(recipes, dataset, budget, output, data_dir=None, timeout=None, echo=print,
                extra=None):
    """Runs each recipe as a subprocess into `output/<name>`; returns `{name: status dict}`.

    Args:
        recipes: dict `{name: path}`; a `None` path means the recipe is missing.
        dataset: str, passed as `--dataset`.
        budget: `"small"` or `"medium"` (see `BUDGETS`, `RECIPE_ARGS`).
        output: str. Parent folder.
        data_dir: str or `None`, passed as `--data-dir`.
        timeout: seconds per recipe, or `None`.
        echo: callable for progress lines.
        extra: list of str or `None`: more flags for every recipe (e.g.
            `["--mixed-precision", "mixed_bfloat16"]`).

    Returns:
        `{name: {"status": "ok" | "failed" | "missing", "error": str, "seconds": float,
        "command": list, "log": path}}`. The output of each recipe goes to
        `output/<name>/log.txt`.
    """
    statuses = {}
    for name, path in recipes.items():
        folder = os.path.join(output, name)
        if path is None or not os.path.isfile(path):
            statuses[name] = {"status": "missing", "error": "recipe not found in recipes/",
                              "seconds": 0.0, "command": [], "log": None}
            continue
        os.makedirs(folder, exist_ok=True)
        argv = recipe_command(path, dataset, budget, folder, data_dir, extra=extra)
        log = os.path.join(folder, "log.txt")
        echo(f"[{name}] {' '.join(argv[1:])}")
        start = time.time()
        try:
            with open(log, "w", encoding="utf-8") as f:
                proc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                      check=False)
            status = "ok" if proc.returncode == 0 else "failed"
            error = "" if status == "ok" else f"exit status {proc.returncode}: {_tail(log)}"
        except subprocess.TimeoutExpired:
            status, error = "failed", f"timed out after {timeout} s"
        seconds = time.time() - start
        echo(f"[{name}] {status} in {seconds:.0f} s" + (f": {error}" if error else ""))
        statuses[name] = {"status": status, "error": error, "seconds": seconds,
                          "command": argv[1:], "log": log}
    return statuses


def _tail(path, lines=3):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def evaluate_claims(output, statuses=None, claims=None):
    """Checks every claim against `output/<recipe>/`; a failed or missing recipe gives
    `"not run"` with its error. Returns the result dicts in `claims` order."""
    statuses = statuses or {}
    results = []
    for claim in CLAIMS if claims is None else claims:
        status = statuses.get(claim["recipe"])
        if status is not None and status["status"] != "ok":
            results.append({**claim, "per_metric": {}, "source": None, "verdict": NOT_RUN,
                            "reason": f"recipe {status['status']}: {status['error']}"})
            continue
        results.append(check_claim(claim, os.path.join(output, claim["recipe"])))
    return results


def _fmt(stat):
    mean, std, n = stat
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" + (f" ± {std:.3f}" if std is not None else "") + f" (n={n})"


def report_markdown(results, statuses=None, settings=None):
    """Returns the report: settings, the verdict table, per-claim details, recipe statuses."""
    settings = settings or {}
    lines = ["# Reproducing the papers", ""]
    if settings:
        lines += [f"- {k}: {v}" for k, v in settings.items()] + [""]
    lines += [
        "Verdict rule (`kerasimb.reproduce`): d = mean(method) − mean(baseline) over seeds, "
        "spread = sqrt(std_m² + std_b²) (sample stds): **reproduced** if d > spread with ≥ 2 "
        "seeds a side, **not reproduced** if d ≤ 0, **mixed** otherwise; a claim over several "
        "metrics is reproduced / not reproduced only if every metric is. Test-split figures, "
        "mean ± std (n runs).", "",
        "| paper | claim | metric | method | baseline | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if not r["per_metric"]:
            lines.append(f"| {r['paper']} | {r['claim']} | {', '.join(r['metrics'])} | – | – | "
                         f"**{r['verdict']}** ({r['reason']}) |")
            continue
        for i, (metric, pm) in enumerate(r["per_metric"].items()):
            head = (f"| {r['paper']} | {r['claim']} |" if i == 0 else "| | |")
            lines.append(f"{head} {metric} | {_fmt(pm['method'])} | {_fmt(pm['baseline'])} | "
                         f"{pm['verdict']} |")
        lines.append(f"| | | **claim** | `{_describe(r['method'])}` | "
                     f"`{_describe(r['baseline'])}` | **{r['verdict']}** |")
    lines += ["", "## Per paper", ""]
    for r in results:
        lines += [f"### {r['paper']} (`recipes/{r['recipe']}.py`)", "",
                  f"- claim: {r['claim']}",
                  f"- verdict: **{r['verdict']}**" + (f" — {r['reason']}" if r["reason"] else ""),
                  f"- paper's own figures: {r.get('paper_figures') or 'not reported by the recipe'}"]
        if r["source"]:
            lines.append(f"- our figures from `{r['source']}`")
        lines.append("")
    if statuses:
        lines += ["## Recipe runs", "", "| recipe | status | seconds | command / error |",
                  "|---|---|---|---|"]
        for name, s in statuses.items():
            detail = s["error"] or "`" + " ".join(s["command"]) + "`"
            lines.append(f"| {name} | {s['status']} | {s['seconds']:.0f} | {detail} |")
        claimed = {c["recipe"] for c in results}
        unclaimed = [n for n in statuses if n not in claimed]
        if unclaimed:
            lines += ["", "Recipes without a claim in `kerasimb.reproduce.CLAIMS` (run, not "
                      f"judged): {', '.join(unclaimed)}."]
        lines.append("")
    return "\n".join(lines)


# --- The `kerasimb reproduce` command ---------------------------------------------------------

EXCLUDED_RECIPES = ("tune", "reproduce")


def add_arguments(parser):
    """Adds the flags of `kerasimb reproduce` / `recipes/reproduce.py` to `parser`."""
    parser.add_argument("--dataset", default="digits-lt", help="dataset name (see `kerasimb list`)")
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="small",
                        help="small: 15 epochs, seeds 0 1; medium: 30 epochs, seeds 0 1 2 "
                             "(and per-recipe settings in kerasimb.reproduce.RECIPE_ARGS)")
    parser.add_argument("--recipes", nargs="+", default=None, metavar="NAME",
                        help="run only these recipes; every recipe but tune/reproduce if not given")
    parser.add_argument("--data-dir", default=None, help="passed to every recipe")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="per-recipe time limit (a recipe over it is reported 'not run')")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="output folder, runs/reproduce-<dataset>-<timestamp> if not given")
    parser.add_argument("--mixed-precision", nargs="?", const="auto", default="float32",
                        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                        metavar="POLICY", help="passed to every recipe")
    parser.add_argument("--distribute", default="none",
                        choices=("none", "mirrored", "multiworker", "tpu"),
                        help="passed to every recipe")
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "on", "off"),
                        help="passed to every recipe")
    return parser


def runtime_flags(args):
    """The `--mixed-precision` / `--distribute` / `--jit-compile` flags of `args` that differ
    from their defaults, as recipe command-line arguments."""
    flags = []
    for flag, default in (("mixed_precision", "float32"), ("distribute", "none"),
                          ("jit_compile", "auto")):
        value = getattr(args, flag, default)
        if value != default:
            flags += ["--" + flag.replace("_", "-"), value]
    return flags


def available_recipes():
    """Returns `{name: path}` of the repository's recipes, without tune and reproduce."""
    from kerasimb import cli

    folder = cli._recipes_dir()
    return {name: os.path.join(folder, name + ".py") for name, _ in cli._recipes()
            if name not in EXCLUDED_RECIPES}


def run(args, error):
    """Runs `kerasimb reproduce` with parsed `args`; `error(message)` exits with status 2.

    Writes `report.md` and `reproduce.json` to the output folder (also when recipes fail) and
    prints the verdict table. Returns 0.
    """
    from kerasimb.cli import default_output

    found = available_recipes()
    if args.recipes is not None:
        if len(set(args.recipes)) != len(args.recipes):
            error(f"argument --recipes: a recipe is named twice: {args.recipes}")
        excluded = [r for r in args.recipes if r in EXCLUDED_RECIPES]
        if excluded:
            error(f"argument --recipes: {excluded} cannot be run by reproduce")
        unknown = [r for r in args.recipes if r not in found]
        if unknown:
            error(f"argument --recipes: unknown recipe(s) {unknown}; available: {sorted(found)}")
        selected = {r: found[r] for r in args.recipes}
    else:
        # every recipe found, and the recipes of the claims even when missing ("not run")
        selected = dict(found)
        for claim in CLAIMS:
            selected.setdefault(claim["recipe"], None)
    if args.timeout is not None and not args.timeout > 0:
        error(f"argument --timeout: expected a number > 0, received {args.timeout}")
    output = args.output or default_output("reproduce", args.dataset)
    os.makedirs(output, exist_ok=True)
    print(f"Running {len(selected)} recipe(s) on {args.dataset} at budget {args.budget!r} "
          f"into {output}", flush=True)
    start = time.time()
    statuses = run_recipes(selected, args.dataset, args.budget, output, data_dir=args.data_dir,
                           timeout=args.timeout, echo=lambda s: print(s, flush=True),
                           extra=runtime_flags(args))
    claims = [c for c in CLAIMS if c["recipe"] in selected]
    results = evaluate_claims(output, statuses, claims)
    settings = {"dataset": args.dataset, "budget": f"{args.budget} {BUDGETS[args.budget]}",
                "total time": f"{time.time() - start:.0f} s"}
    text = report_markdown(results, statuses, settings)
    with open(os.path.join(output, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(output, "reproduce.json"), "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "statuses": statuses, "results": results}, f, indent=1,
                  default=str)
    print()
    print("\n".join(line for line in text.splitlines() if line.startswith("|")))
    print(f"\nSaved report.md and reproduce.json to {output}")
    return 0
