"""Reproducing every paper at once: run each recipe at a budget and judge its paper's claims.

`reproduce(...)` (the `kerasimb reproduce` command) runs every recipe of `kerasimb.recipes` as a
subprocess (`python -m kerasimb.recipes.<name>` with the recipe's own `BUDGETS[budget]` flags)
writing its `metrics.json` into its own folder, then checks each claim of the recipes' `CLAIMS`
(`claims()`) against those files and writes one report.

A claim says "`method` beats `baseline` on `metrics`" (the metrics its paper leads with). Its
two sides are *selectors* on the run records of a recipe's `metrics.json` (its `"runs"` list, one
record per run, e.g. per seed): `{"where": {key: value, ...}, "field": "report"}` picks the
records whose keys match and reads each metric from `record[field]` (default field `"report"`,
the `runs.compare` format; a recipe with its own format names its own field, e.g. `"with"` /
`"without"`). A plain string is short for `{"where": {"method": <string>}}`. Every
`metrics.json` under the recipe's folder is tried in path order; the first one holding both
sides is used.

The verdict rule (per metric, then per claim): the paired difference `method - baseline` of the
metric with a 95 % bootstrap interval of 2,000 draws, read by
`metrics.verdict_from_interval`:

- `"holds"` when the interval lies above 0, `"reversed"` when it lies below 0, `"not shown"`
  when it contains 0 (or there is no interval).
- The interval is the two-level bootstrap over seeds and test images
  (`metrics.paired_bootstrap`, seed `s` of the method paired with seed `s` of the baseline on
  the same test images) when the recipe saved its per-image test predictions: a
  `predictions.npz` beside the `metrics.json` (`runs.report.save_comparison`: `y_true` and
  `"<method>/seed<seed>"`) holding every selected run, with both sides read from `"report"`
  and the metric a scalar `metrics.report` key.
- Otherwise (a recipe with its own format, e.g. `perturbed_inference`'s `"with"` /
  `"without"` figures, whose perturbed predictions are not saved) the verdict is from the seeds
  only: a one-level bootstrap of the mean difference over the runs' own values (`seed_interval`:
  paired by run, seed or fold when both sides have the same ones, else the two sides resampled
  apart). It knows nothing of the test images' noise, and with a single value on a side there
  is no interval (`"not shown"`). The report marks such verdicts "seeds only".
- Fewer than 3 seeds (or pairs) make an interval unreliable; the report says so.

A claim over several metrics `"holds"` when every metric holds, is `"reversed"` when every
metric is, and is `"not shown"` otherwise. A claim whose recipe is missing, failed or produced
no matching runs is `"not run"`, with the reason.

Beside each claim the report prints the paper's own figures for the claim's method and
baseline rows ("paper (their data)": measured on the paper's data, so no difference to ours is
printed) beside ours, and the paper's method − baseline difference beside ours, the comparable
part, from the recipe's `PAPER_TABLES` (`paper_rows`, `kerasimb.recipes.paper`): the rows whose
selector is the claim's method or baseline selector.

Example:

>>> verdict([0.80, 0.82, 0.81], [0.70, 0.71, 0.69])
'holds'
>>> verdict([0.70, 0.72], [0.71, 0.70])
'not shown'
>>> verdict([0.60, 0.61, 0.62], [0.70, 0.72, 0.71])
'reversed'
>>> verdict([0.90], [0.70])  # one seed, no per-image predictions: no interval
'not shown'
>>> combine(["holds", "not shown"])
'not shown'
"""

import glob
import json
import math
import numbers
import os
import subprocess
import sys
import time

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.bootstrap import BOOTSTRAP_METRICS, paired_bootstrap, verdict_from_interval
from kerasimb.recipes import RECIPES, load, paper
from kerasimb.runs import default_output
from kerasimb.runs.report import versus_baseline_text
from kerasimb.utils.atomic import write_json, write_text
from kerasimb.utils.formatting import format_stat, mean_std
from kerasimb.utils.validation import check_choice, check_float, check_int

__all__ = ["BUDGETS", "check_claim", "claims", "combine", "evaluate_claims", "protocol_table",
           "recipe_command", "report_markdown", "reproduce", "run_recipes", "seed_interval",
           "verdict"]

HOLDS, NOT_SHOWN, REVERSED, NOT_RUN = "holds", "not shown", "reversed", "not run"
BOTH_LEVELS, SEEDS_ONLY = "seeds and test images", "seeds only"

# Every recipe declares these budgets in its `BUDGETS` (its own flags at each budget): small runs
# in minutes per recipe on digits-lt on a CPU, medium in tens of minutes, paper the paper's
# protocol at its epochs, image size and model (`--budget paper`: hours on a GPU).
BUDGETS = ("small", "medium", "paper")

DRAWS, CONFIDENCE = 2000, 0.95


def claims(recipes=RECIPES):
    """The headline claims of `recipes` (each recipe's `CLAIMS`), each with its `recipe` name."""
    return [{"recipe": name, **claim} for name in recipes for claim in load(name).CLAIMS]


def _stats(values):
    stat = mean_std(values)
    return stat["mean"], stat["std"], stat["n"]


def _finite(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


@kerasimb_export("kerasimb.recipes.reproduce.seed_interval", serializable=False)
def seed_interval(method_values, baseline_values, paired=None, draws=DRAWS,
                  confidence=CONFIDENCE, seed=0):
    """The difference of the mean over seeds, method minus baseline, with a one-level bootstrap
    interval over the seeds' (or folds') own values: the verdict "from the seeds only", for a
    recipe whose per-image predictions are not saved.

    Paired (the values at the same position are the same run, seed or fold of both sides): each
    draw resamples the pairs with replacement and takes the mean difference. Unpaired: each draw
    resamples each side apart and takes the difference of the means. A pair or value that is not
    finite is left out. With fewer than 2 values on a side there is nothing to resample: no
    interval (`low`, `high` `None`, verdict `"not shown"`).

    Args:
        method_values: sequence of floats, one per seed or fold.
        baseline_values: sequence of floats.
        paired: bool or `None`: whether position `i` of both sides is the same seed or fold.
            `None`: paired when both sides have the same length. Defaults to `None`.
        draws: int >= 100. Defaults to `2000`.
        confidence: float in (0, 1). Defaults to `0.95`.
        seed: int >= 0, the resampling seed. Defaults to `0`.

    Returns:
        dict with `difference` (`None` without a finite value on a side), `low`, `high`,
        `num_seeds` (the pairs, or the fewer values of the two sides), `paired`, `reliable`
        (at least 3) and `verdict` (`"holds"`, `"reversed"`, `"not shown"`, or `"not run"`
        without a finite value on a side).

    Example:

    >>> out = seed_interval([0.80, 0.82, 0.81], [0.70, 0.71, 0.69])
    >>> round(out["difference"], 3), out["verdict"], out["paired"]
    (0.11, 'holds', True)
    """
    draws = check_int(draws, "draws", minimum=100)
    confidence = check_float(confidence, "confidence", minimum=0.0, maximum=1.0,
                             min_inclusive=False, max_inclusive=False)
    method_values, baseline_values = list(method_values), list(baseline_values)
    paired = len(method_values) == len(baseline_values) if paired is None else bool(paired)
    if paired and len(method_values) != len(baseline_values):
        raise ValueError(
            "Invalid value received for argument `paired`. Expected sides of the same length to "
            f"pair. Received: {len(method_values)} and {len(baseline_values)} values")
    if paired:
        pairs = [(m, b) for m, b in zip(method_values, baseline_values)
                 if _finite(m) and _finite(b)]
        m = np.array([p[0] for p in pairs], dtype=np.float64)
        b = np.array([p[1] for p in pairs], dtype=np.float64)
    else:
        m = np.array([v for v in method_values if _finite(v)], dtype=np.float64)
        b = np.array([v for v in baseline_values if _finite(v)], dtype=np.float64)
    out = {"difference": None, "low": None, "high": None, "num_seeds": int(min(len(m), len(b))),
           "paired": paired, "reliable": bool(min(len(m), len(b)) >= 3), "verdict": NOT_RUN}
    if not len(m) or not len(b):
        return out
    out["difference"] = float(m.mean() - b.mean())
    if min(len(m), len(b)) < 2:
        out["verdict"] = NOT_SHOWN
        return out
    rng = np.random.default_rng(seed)
    if paired:
        d = (m - b)[rng.integers(len(m), size=(draws, len(m)))].mean(axis=1)
    else:
        d = (m[rng.integers(len(m), size=(draws, len(m)))].mean(axis=1)
             - b[rng.integers(len(b), size=(draws, len(b)))].mean(axis=1))
    tail = (1.0 - confidence) / 2.0 * 100.0
    out["low"], out["high"] = (float(v) for v in np.percentile(d, [tail, 100.0 - tail]))
    out["verdict"] = verdict_from_interval(out["low"], out["high"])
    return out


@kerasimb_export("kerasimb.recipes.reproduce.verdict", serializable=False)
def verdict(method_values, baseline_values):
    """Returns the verdict for one metric from the per-seed values of both sides alone (the
    seeds-only rule of the module docstring, `seed_interval`): `"holds"`, `"reversed"` or
    `"not shown"` from the 95 % interval of the mean difference, `"not run"` when either side
    has no finite value. Position `i` of both sides is paired when they have the same length.

    Args:
        method_values: sequence of floats (one per seed); non-finite values are left out.
        baseline_values: sequence of floats.

    Returns:
        str.

    Example:

    >>> verdict([0.9, 0.8, 0.85], [0.5, 0.6, 0.55])
    'holds'
    """
    return seed_interval(method_values, baseline_values)["verdict"]


def combine(verdicts):
    """Combines per-metric verdicts: all equal -> that one; any `"not run"` -> `"not run"`;
    else `"not shown"`."""
    verdicts = list(verdicts)
    if not verdicts or NOT_RUN in verdicts:
        return NOT_RUN
    return verdicts[0] if len(set(verdicts)) == 1 else NOT_SHOWN


def _selector(side):
    if isinstance(side, str):
        return {"where": {"method": side}, "field": "report"}
    return {"where": dict(side.get("where", {})), "field": side.get("field", "report")}


def _describe(side):
    sel = _selector(side)
    text = ", ".join(f"{k}={v}" for k, v in sel["where"].items())
    return text if sel["field"] == "report" else f"{text} [{sel['field']}]"


def _select(runs, side, metric):
    """`[(record, value)]` of the runs `side` selects that report `metric`."""
    sel = _selector(side)
    found = []
    for run in runs:
        if isinstance(run, dict) and all(run.get(k) == v for k, v in sel["where"].items()):
            container = run.get(sel["field"])
            if isinstance(container, dict) and metric in container:
                found.append((run, container[metric]))
    return found


_RUN_KEYS = ("seed", "split", "fold")


def _pairs(method_side, baseline_side):
    """`[(method index, baseline index)]` pairing the selected runs of both sides: the same
    records (two fields of one run), or the same seed / split / fold; `None` if they do not
    pair."""
    if [id(r) for r, _ in method_side] == [id(r) for r, _ in baseline_side]:
        return [(i, i) for i in range(len(method_side))]

    def keys(side):
        return [tuple(r.get(k) for k in _RUN_KEYS) for r, _ in side]

    km, kb = keys(method_side), keys(baseline_side)
    if len(set(km)) != len(km) or len(set(kb)) != len(kb) or set(km) != set(kb):
        return None
    return [(i, kb.index(key)) for i, key in enumerate(km)]


def _load_predictions(path):
    """The arrays of the `predictions.npz` beside `path` (a `metrics.json`), or `None`."""
    npz = os.path.join(os.path.dirname(path), "predictions.npz")
    if not os.path.isfile(npz):
        return None
    try:
        with np.load(npz, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as e:
        return {"error": f"unreadable {os.path.basename(npz)}: {e}"}


def _image_interval(claim, metric, method_side, baseline_side, pairs, predictions,
                    class_counts):
    """The two-level interval from the per-image predictions, or `(None, reason)` when they
    cannot give it."""
    fields = (_selector(claim["method"])["field"], _selector(claim["baseline"])["field"])
    if fields != ("report", "report"):
        return None, f"the figures come from the recipe's own fields {list(fields)}"
    if metric not in BOOTSTRAP_METRICS:
        return None, f"`{metric}` is not a `metrics.report` figure"
    if predictions is None:
        return None, "no predictions.npz beside metrics.json"
    if "error" in predictions:
        return None, predictions["error"]
    if pairs is None:
        return None, "the two sides have different seeds"

    def arrays(side):
        keys = [f"{r.get('method')}/seed{r.get('seed')}" for r, _ in side]
        return [predictions.get(k) for k in keys], keys

    m_arrays, m_keys = arrays(method_side)
    b_arrays, b_keys = arrays(baseline_side)
    missing = [k for k, a in zip(m_keys + b_keys, m_arrays + b_arrays) if a is None]
    if missing or "y_true" not in predictions:
        return None, f"predictions.npz lacks {(missing or ['y_true'])[:3]}"
    try:
        found = paired_bootstrap(
            predictions["y_true"], [m_arrays[i] for i, _ in pairs],
            [b_arrays[j] for _, j in pairs], metric=metric, draws=DRAWS, confidence=CONFIDENCE,
            class_counts=class_counts if metric == "smallest_class_recall" else None)
    except (ValueError, TypeError) as e:
        return None, f"predictions.npz does not fit: {e}"
    return found, ""


def _judge(claim, metric, method_side, baseline_side, predictions, class_counts):
    """One metric's entry of `check_claim`'s `per_metric`."""
    entry = {"method": _stats([v for _, v in method_side]),
             "baseline": _stats([v for _, v in baseline_side])}
    pairs = _pairs(method_side, baseline_side)
    found, why = _image_interval(claim, metric, method_side, baseline_side, pairs, predictions,
                                 class_counts)
    if found is not None:
        entry.update(level=BOTH_LEVELS, note="")
    else:
        if pairs is not None:
            m = [method_side[i][1] for i, _ in pairs]
            b = [baseline_side[j][1] for _, j in pairs]
        else:
            m, b = [v for _, v in method_side], [v for _, v in baseline_side]
        found = seed_interval(m, b, paired=pairs is not None)
        entry.update(level=SEEDS_ONLY, note=why, paired=pairs is not None)
    entry.update({k: found[k] for k in ("difference", "low", "high", "num_seeds", "reliable",
                                        "verdict")})
    for key in ("difference", "low", "high"):
        value = entry[key]
        entry[key] = None if value is None or not math.isfinite(value) else float(value)
    return entry


def check_claim(claim, folder):
    """Checks one claim against the `metrics.json` files under `folder`; returns a result dict.

    Returns:
        dict with the claim's keys plus `verdict`, `per_metric` (`{metric: {"method": (mean,
        std, n), "baseline": (mean, std, n), "difference", "low", "high" (the 95 % interval,
        `None` when there is none), "num_seeds", "reliable", "level"` (`"seeds and test
        images"` or `"seeds only"`), `"note"` (why seeds only, else `""`) and `"verdict"}}`),
        `source` (the file used) and `reason` (why it is `"not run"`, else `""`).
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
                stored = json.load(f)
            runs = stored.get("runs", [])
        except (OSError, ValueError, AttributeError) as e:
            result["reason"] = f"unreadable {path}: {e}"
            continue
        labels |= {str(r.get("method")) for r in runs if isinstance(r, dict)}
        sides = {}
        for metric in claim["metrics"]:
            mv = _select(runs, claim["method"], metric)
            bv = _select(runs, claim["baseline"], metric)
            if not _stats([v for _, v in mv])[2] or not _stats([v for _, v in bv])[2]:
                break
            sides[metric] = (mv, bv)
        else:
            predictions = _load_predictions(path)
            dataset = stored.get("dataset")
            counts = dataset.get("class_counts") if isinstance(dataset, dict) else None
            per_metric = {metric: _judge(claim, metric, mv, bv, predictions, counts)
                          for metric, (mv, bv) in sides.items()}
            result.update(per_metric=per_metric, source=path, reason="",
                          verdict=combine(v["verdict"] for v in per_metric.values()),
                          paper_rows=paper_rows(claim, runs))
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


def paper_rows(claim, runs):
    """The paper's printed figures for the claim's method and baseline rows beside ours (from
    the recipe's `PAPER_TABLES`, `kerasimb.recipes.paper`): `[{"side", "source", "setting",
    "row", "metric", "paper", "ours", "std", "n"}]`, empty when the recipe has no such rows."""
    name = claim.get("recipe")
    tables = getattr(load(name), "PAPER_TABLES", []) if name in RECIPES else []
    return [{"side": side, "source": table["source"], "setting": table["setting"],
             "row": c["row"], "metric": c["metric"], "paper": c["paper"],
             "ours": c["ours"]["mean"], "std": c["ours"]["std"], "n": c["n"]}
            for side, table, c in paper.claim_rows(tables, claim, runs)]


def paper_lines(rows):
    """The report's lines for `paper_rows`: per source, metric and side, the paper's figure (on
    its data) and ours, then the paper's method − baseline difference beside ours and whether
    the two point the same way."""
    lines = []
    for source in dict.fromkeys(r["source"] for r in rows):
        mine = [r for r in rows if r["source"] == source]
        lines.append(f"- paper's figures beside ours, from {source} ({mine[0]['setting']}):")
        for metric in dict.fromkeys(r["metric"] for r in mine):
            by_side = {r["side"]: r for r in mine if r["metric"] == metric}
            for side, r in by_side.items():
                ours = format_stat({"mean": r["ours"], "std": r["std"]})
                lines.append(f"  - `{metric}`, {side} (paper's row {r['row']}): paper (their "
                             f"data) {r['paper']:.4f}, ours {ours} (n={r['n']})")
            if len(by_side) == 2 and None not in (by_side["method"]["ours"],
                                                  by_side["baseline"]["ours"]):
                theirs = by_side["method"]["paper"] - by_side["baseline"]["paper"]
                ours = by_side["method"]["ours"] - by_side["baseline"]["ours"]
                same = paper.direction(theirs, ours)
                lines.append(f"  - `{metric}`, method − baseline: paper {paper.signed(theirs)}, "
                             f"ours {paper.signed(ours)}" + (f" ({same} direction)" if same
                                                             else ""))
    return lines


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
        result["protocol"] = protocol_table(os.path.join(output, claim["recipe"], "report.md"))
        if result["source"]:
            result["source"] = os.path.relpath(result["source"], output)
        results.append(result)
    return results


def protocol_table(report):
    """The rows of the "## Protocol" table of a recipe's `report` (markdown lines, the paper's
    protocol beside the run's, departures marked ≠), or `[]` when it has none."""
    try:
        with open(report, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    if "\n## Protocol\n" not in text:
        return []
    section = text.split("\n## Protocol\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def _fmt(stat):
    mean, std, n = stat
    return format_stat({"mean": mean, "std": std}) + ("" if mean is None else f" (n={n})")


def _difference_cell(pm):
    """`+0.031 [−0.004, +0.066]`, or the difference alone when there is no interval."""
    if pm.get("low") is not None:
        return versus_baseline_text(pm)
    if pm.get("difference") is None:
        return "n/a"
    return f"{pm['difference']:+.3f} (no interval)".replace("-", "\u2212")


def _verdict_cell(pm):
    """`holds`, with what it rests on when that is less than the full rule: `(seeds only)`,
    `(2 seeds: unreliable)`."""
    notes = [SEEDS_ONLY] if pm.get("level") == SEEDS_ONLY else []
    if not pm.get("reliable", True) and pm.get("low") is not None:
        count = pm.get("num_seeds")
        notes.append(f"{count} seed{'s' * (count != 1)}: unreliable")
    return pm["verdict"] + (f" ({'; '.join(notes)})" if notes else "")


def report_markdown(results, statuses=None, settings=None):
    """Returns the report: settings, the verdict table, per-claim details, recipe statuses."""
    settings = settings or {}
    lines = ["# Reproducing the papers", ""]
    if settings:
        lines += [f"- {k}: {v}" for k, v in settings.items()] + [""]
    lines += [
        "Verdict rule (`kerasimb.recipes.reproduce`): the paired difference method − baseline "
        f"of each metric with a {CONFIDENCE:.0%} bootstrap interval ({DRAWS:,} draws) over "
        "seeds and test images when the recipe saved its per-image test predictions, else over "
        "the seeds' own values (**seeds only**: blind to the test images' noise; no interval "
        "from a single seed): **holds** if the interval lies above 0, **reversed** if below "
        "0, **not shown** if it contains 0; a claim over several metrics holds / is reversed "
        "only if every metric does. Fewer than 3 seeds make an interval unreliable. Test-split "
        "figures, mean ± std (n runs).", "",
        "| paper | claim | metric | method | baseline | difference [95% interval] | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if not r["per_metric"]:
            lines.append(f"| {r['paper']} | {r['claim']} | {', '.join(r['metrics'])} | – | – | "
                         f"– | **{r['verdict']}** ({r['reason']}) |")
            continue
        for i, (metric, pm) in enumerate(r["per_metric"].items()):
            head = (f"| {r['paper']} | {r['claim']} |" if i == 0 else "| | |")
            lines.append(f"{head} {metric} | {_fmt(pm['method'])} | {_fmt(pm['baseline'])} | "
                         f"{_difference_cell(pm)} | {_verdict_cell(pm)} |")
        lines.append(f"| | | **claim** | `{_describe(r['method'])}` | "
                     f"`{_describe(r['baseline'])}` | | **{r['verdict']}** |")
    lines += ["", "## Per paper", ""]
    for r in results:
        lines += [f"### {r['paper']} (`kerasimb run {r['recipe']}`)", "",
                  f"- claim: {r['claim']}",
                  f"- verdict: **{r['verdict']}**" + (f" — {r['reason']}" if r["reason"] else ""),
                  ]
        if r.get("paper_rows"):
            lines += paper_lines(r["paper_rows"])
        elif r.get("paper_figures"):
            lines.append(f"- paper's own figures: {r['paper_figures']}")
        else:
            lines.append("- paper's own figures: none of the recipe's PAPER_TABLES rows is "
                         "this claim's method and baseline, or they were not run")
        if r["source"]:
            lines.append(f"- our figures from `{r['source']}`")
        if r.get("protocol"):
            departures = [row.split("|")[1].replace("≠", "").strip()
                          for row in r["protocol"][2:] if "≠" in row.split("|")[1]]
            lines += ["- protocol: the paper's beside this run's"
                      + (f" (departures: {', '.join(departures)})" if departures else
                         " (no departure)"), "", *r["protocol"], ""]
        for metric, pm in r["per_metric"].items():
            if pm.get("level") == SEEDS_ONLY:
                lines.append(f"- `{metric}`: verdict from the seeds only ({pm['num_seeds']} "
                             f"{'pairs' if pm.get('paired', True) else 'runs'}; "
                             f"{pm.get('note') or 'no per-image predictions'})")
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
