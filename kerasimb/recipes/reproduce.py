"""Reproducing every paper at once: run each recipe at a budget and judge its paper's claims.

`reproduce(...)` (the `kerasimb reproduce` command) runs every recipe of `kerasimb.recipes` as a
subprocess (`python -m kerasimb.recipes.<name>` with the recipe's own `BUDGETS[budget]` flags)
writing its `metrics.json` into its own folder, then checks each claim of the recipes' `CLAIMS`
(`claims()`) against those files and writes one report.

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

from kerasimb.api_export import kerasimb_export
from kerasimb.recipes import RECIPES, load
from kerasimb.runs import default_output
from kerasimb.utils.atomic import write_json, write_text
from kerasimb.utils.formatting import format_stat, mean_std
from kerasimb.utils.validation import check_choice

__all__ = ["BUDGETS", "check_claim", "claims", "combine", "evaluate_claims", "recipe_command",
           "report_markdown", "reproduce", "run_recipes", "verdict"]

REPRODUCED, NOT_REPRODUCED, MIXED, NOT_RUN = "reproduced", "not reproduced", "mixed", "not run"

# Every recipe declares these budgets in its `BUDGETS` (its own flags at each budget): small runs
# in minutes per recipe on digits-lt on a CPU, medium in tens of minutes.
BUDGETS = ("small", "medium")

def claims(recipes=RECIPES):
    """The headline claims of `recipes` (each recipe's `CLAIMS`), each with its `recipe` name."""
    return [{"recipe": name, **claim} for name in recipes for claim in load(name).CLAIMS]


def _stats(values):
    stat = mean_std(values)
    return stat["mean"], stat["std"], stat["n"]


@kerasimb_export("kerasimb.recipes.reproduce.verdict", serializable=False)
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
            if not _stats(mv)[2] or not _stats(bv)[2]:
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


def recipe_command(name, dataset, budget, output, data_dir=None, extra=()):
    """Returns the subprocess argv that runs recipe `name` at `budget` into `output`.

    Raises:
        ValueError: an unknown recipe or budget.
    """
    check_choice(budget, "budget", BUDGETS)
    recipe = load(name)
    argv = [sys.executable, "-m", f"kerasimb.recipes.{name}", "--dataset", dataset,
            "--output", output, "--no-progress", *recipe.BUDGETS[budget]]
    if data_dir:
        argv += ["--data-dir", data_dir]
    return argv + list(extra)


def run_recipes(commands, output, timeout=None, echo=print):
    """Runs each recipe's command as a subprocess into `output/<name>`; returns
    `{name: status dict}`.

    Args:
        commands: dict `{name: argv}` (see `recipe_command`, whose `output` is `output/<name>`).
        output: str. Parent folder; each recipe's console output goes to
            `output/<name>/log.txt`.
        timeout: seconds per recipe, or `None`.
        echo: callable for progress lines.

    Returns:
        `{name: {"status": "ok" | "failed", "error": str, "seconds": float, "command": list,
        "log": str}}` (`command` as typed, with `python` and paths relative to `output`; `log`
        relative to `output`), so that a report shows no local path.
    """
    statuses = {}
    for name, argv in commands.items():
        folder = os.path.join(output, name)
        os.makedirs(folder, exist_ok=True)
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
        command = [os.path.relpath(a, output) if a.startswith(output) else a for a in argv[1:]]
        statuses[name] = {"status": status, "error": error, "seconds": seconds,
                          "command": ["python", *command], "log": os.path.relpath(log, output)}
    return statuses


def _tail(path, lines=3):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def evaluate_claims(output, statuses, claim_list):
    """Checks every claim against `output/<recipe>/`; a failed recipe gives `"not run"` with
    its error. Returns the result dicts in `claim_list` order (sources relative to `output`)."""
    results = []
    for claim in claim_list:
        status = statuses.get(claim["recipe"])
        if status is not None and status["status"] != "ok":
            results.append({**claim, "per_metric": {}, "source": None, "verdict": NOT_RUN,
                            "reason": f"recipe {status['status']}: {status['error']}"})
            continue
        result = check_claim(claim, os.path.join(output, claim["recipe"]))
        if result["source"]:
            result["source"] = os.path.relpath(result["source"], output)
        results.append(result)
    return results


def _fmt(stat):
    mean, std, n = stat
    return format_stat({"mean": mean, "std": std}) + ("" if mean is None else f" (n={n})")


def report_markdown(results, statuses=None, settings=None):
    """Returns the report: settings, the verdict table, per-claim details, recipe statuses."""
    settings = settings or {}
    lines = ["# Reproducing the papers", ""]
    if settings:
        lines += [f"- {k}: {v}" for k, v in settings.items()] + [""]
    lines += [
        "Verdict rule (`kerasimb.recipes.reproduce`): d = mean(method) − mean(baseline) over seeds, "
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
        lines += [f"### {r['paper']} (`kerasimb run {r['recipe']}`)", "",
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
            lines += ["", "Recipes without a claim in their `CLAIMS` (run, not judged): "
                      f"{', '.join(unclaimed)}."]
        lines.append("")
    return "\n".join(lines)


@kerasimb_export("kerasimb.recipes.reproduce.reproduce", serializable=False)
def reproduce(dataset="digits-lt", budget="small", output=None, recipes=None, data_dir=None,
              timeout=None, extra=(), echo=print):
    """Runs every recipe at `budget` and judges its paper's claims; writes `report.md` and
    `reproduce.json` to `output` (also when recipes fail) and returns the claim results.

    Args:
        dataset: str, passed to every recipe as `--dataset`. Defaults to `"digits-lt"`.
        budget: one of `BUDGETS`. Defaults to `"small"`.
        output: str or `None` (a new `runs/reproduce-<dataset>-<timestamp>`).
        recipes: names from `kerasimb.recipes.RECIPES`, or `None` for all of them.
        data_dir: str or `None`, passed as `--data-dir`.
        timeout: seconds per recipe, or `None`; a recipe over it is "not run".
        extra: more flags for every recipe (e.g. `["--mixed-precision", "mixed_bfloat16"]`).
        echo: callable for progress lines. Defaults to `print`.

    Returns:
        list of claim results (see `check_claim`), in the recipes' order.

    Raises:
        ValueError: an unknown or repeated recipe, an unknown budget, a timeout <= 0.
    """
    check_choice(budget, "budget", BUDGETS)
    names = list(RECIPES if recipes is None else recipes)
    unknown = [r for r in names if r not in RECIPES]
    if unknown or len(set(names)) != len(names) or not names:
        raise ValueError(
            f"Invalid value received for argument `recipes`. Expected distinct recipe names "
            f"among {list(RECIPES)}. Received: recipes={names}")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"Invalid value received for argument `timeout`. Expected a number "
                         f"of seconds > 0 or None. Received: timeout={timeout}")
    output = output or default_output("reproduce", dataset)
    os.makedirs(output, exist_ok=True)
    commands = {name: recipe_command(name, dataset, budget, os.path.join(output, name),
                                     data_dir, extra) for name in names}
    echo(f"Running {len(names)} recipe(s) on {dataset} at budget {budget!r} into {output}")
    start = time.time()
    statuses = run_recipes(commands, output, timeout=timeout, echo=echo)
    results = evaluate_claims(output, statuses, claims(names))
    settings = {"dataset": dataset, "budget": budget,
                "total time": f"{time.time() - start:.0f} s"}
    write_text(os.path.join(output, "report.md"), report_markdown(results, statuses, settings))
    write_json(os.path.join(output, "reproduce.json"),
               {"settings": settings, "statuses": statuses, "results": results})
    return results
