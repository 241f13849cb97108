"""Running a search: `make_tuner`, `leaderboard`, `plot_search_history`, `show_progress` and
`tune`.

`tune()` is what `kerasimb tune` runs: a Keras Tuner search with an
`ImbalanceHyperModel` (one line printed per finished trial), the leaderboard, the best
configuration retrained once more and scored once on the test split, and a report
(`TuningResult.save`: `report.md`, `tuning.json`, `leaderboard.csv`, `summary.csv`,
`per_class.csv`, `search_history.png`).
"""

import os
import sys
import time

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.report import SCALAR_METRICS
from kerasimb.tuning.hypermodel import LEARNING_RATE, METHOD, WIDTH, ImbalanceHyperModel
from kerasimb.utils.atomic import atomic_path, write_json, write_text
from kerasimb.utils.class_figures import per_class_scores
from kerasimb.utils.formatting import jsonable, write_csv
from kerasimb.utils.plotting import integer_ticks, legend_outside, new_figure, save_figure
from kerasimb.utils.validation import check_choice, check_float, check_int

# Figures only meaningful for ordered grades: left out of a nominal dataset's test table.
ORDINAL_ONLY = ("quadratic_kappa", "kendall_tau")

TUNERS = ("random", "bayesian", "hyperband")

ENDED = ("COMPLETED", "FAILED", "INVALID")


@kerasimb_export("kerasimb.tuning.make_tuner", serializable=False)
def make_tuner(hypermodel, tuner="random", max_trials=10, directory="runs/tune",
               project_name="kerasimb", overwrite=False, seed=0, hyperband_factor=3,
               worker_timeout=60.0):
    """Returns a Keras Tuner tuner over `hypermodel`, maximising `hypermodel.objective`.

    With `overwrite=False` (the default) a search started before in `directory/project_name`
    resumes: finished trials are kept and unfinished ones run again.

    The tuners are `kerasimb.tuning.oracles`' subclasses of Keras Tuner's: no configuration is
    trained twice (a random or Bayesian search stops early, `oracle.exhausted`, once every
    configuration of a finite space was tried), and in a distributed search
    (`kerasimb.tuning.distributed`: Keras Tuner's `KERASTUNER_*` environment variables) the
    trial of a worker that stops answering is run again by another.

    Args:
        hypermodel: `ImbalanceHyperModel`.
        tuner: `"random"` (`RandomSearch`), `"bayesian"` (`BayesianOptimization`) or
            `"hyperband"` (`Hyperband`, with `max_epochs=hypermodel.epochs`; `max_trials` does
            not apply). Defaults to `"random"`.
        max_trials: int >= 1. Defaults to `10`.
        directory: str. Where the search state lives. Defaults to `"runs/tune"`.
        project_name: str. Sub-folder of `directory`. Defaults to `"kerasimb"`.
        overwrite: bool. Start afresh instead of resuming. Defaults to `False`.
        seed: int. The tuner's random seed. Defaults to `0`.
        hyperband_factor: int >= 2. Hyperband's reduction factor. Defaults to `3`.
        worker_timeout: float > 0 or `None`. Distributed search: seconds without a heartbeat
            after which the chief gives a worker up and requeues its trial (`None`: never).
            Defaults to `60`.

    Raises:
        ValueError: an unknown tuner, bad numbers, an incomplete or bad set of `KERASTUNER_*`
            environment variables, `overwrite=True` in a distributed search's worker (it would
            delete the shared search state).

    Example:

    >>> from kerasimb import data, tuning
    >>> hm = tuning.ImbalanceHyperModel(data.load_dataset("digits-lt"), methods=["ce"])
    >>> tuner = tuning.make_tuner(hm, "random", max_trials=2, directory="/tmp/kt_doc",
    ...                           overwrite=True)
    >>> type(tuner).__name__
    'RandomSearch'
    """
    from kerasimb.tuning import oracles
    from kerasimb.tuning.distributed import distributed_role

    if not isinstance(hypermodel, ImbalanceHyperModel):
        raise TypeError(
            "Invalid type received for argument `hypermodel`. Expected an "
            f"`ImbalanceHyperModel`. Received: hypermodel={type(hypermodel).__name__}"
        )
    check_choice(tuner, "tuner", TUNERS)
    max_trials = check_int(max_trials, "max_trials", minimum=1)
    if worker_timeout is not None:
        worker_timeout = check_float(worker_timeout, "worker_timeout", minimum=0.0,
                                     min_inclusive=False)
    role = distributed_role()
    if role is not None and not role.is_chief and overwrite:
        raise ValueError(
            "Invalid value received for argument `overwrite`. Expected False in a worker of a "
            "distributed search (only the chief may start the shared search afresh). "
            f"Received: overwrite=True with KERASTUNER_TUNER_ID={role.tuner_id!r}")
    common = dict(objective=hypermodel.objective, directory=directory, project_name=project_name,
                  overwrite=overwrite, seed=seed, worker_timeout=worker_timeout)
    if tuner == "random":
        return oracles.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if tuner == "bayesian":
        return oracles.BayesianOptimization(
            hypermodel, max_trials=max_trials, num_initial_points=min(max_trials, 3), **common)
    return oracles.Hyperband(
        hypermodel, max_epochs=hypermodel.epochs,
        factor=check_int(hyperband_factor, "hyperband_factor", minimum=2), **common)


def _trial_key(trial_id):
    """Search order of trial ids ("0", "1", ..., "10"; Hyperband's "0000", ...)."""
    return (0, int(trial_id), "") if str(trial_id).isdigit() else (1, 0, str(trial_id))


def _trial_params(hypermodel, hp):
    """The active hyperparameter values of a trial, with the method's own under `params`."""
    values = dict(hp.values)
    method = values.get(METHOD)
    prefix = f"{method}."
    return {
        "method": method,
        "params": {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)},
        "learning_rate": values.get(LEARNING_RATE, hypermodel.learning_rate),
        "width": values.get(WIDTH),
        "epochs": values.get("tuner/epochs"),
    }


@kerasimb_export("kerasimb.tuning.leaderboard", serializable=False)
def leaderboard(tuner, completed_only=True):
    """Returns the trials, best first: a list of dicts.

    Each dict has `trial_id`, `status`, `score` (the objective, `None` if not scored),
    `metrics` (every `val_*` value the trial returned), `method`, `params` (the method's searched
    hyperparameters), `learning_rate`, `width` and `epochs` (Hyperband's budget, else `None`),
    `order` (the trial's position in the search, from 0) and `tuner_id` (the process that ran
    it: `tuner0` in a one-process search, the worker's `KERASTUNER_TUNER_ID` in a distributed
    one; `None` when the oracle did not record it).

    Args:
        tuner: a tuner from `make_tuner` (or any Keras Tuner tuner of an
            `ImbalanceHyperModel`).
        completed_only: bool. Leave out running, failed and invalid trials. Defaults to `True`.
    """
    objective = tuner.oracle.objective
    ran_by = getattr(tuner.oracle, "ran_by", {})
    rows = []
    for order, (trial_id, trial) in enumerate(sorted(tuner.oracle.trials.items(),
                                                      key=lambda kv: _trial_key(kv[0]))):
        status = str(trial.status)
        if completed_only and status != "COMPLETED":
            continue
        metrics = {name: trial.metrics.get_last_value(name)
                   for name in trial.metrics.metrics}
        score = trial.score
        if score is None and objective.name in metrics:
            score = metrics[objective.name]
        rows.append({"trial_id": trial_id, "order": order, "status": status,
                     "score": None if score is None else float(score), "metrics": metrics,
                     **_trial_params(tuner.hypermodel, trial.hyperparameters),
                     "tuner_id": ran_by.get(trial_id)})
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["order"]))
    return rows


def leaderboard_table(rows, objective="score", limit=None, digits=4):
    """Returns a markdown table of `leaderboard` rows (rank, method, params, lr, width, score)."""
    lines = [f"| rank | trial | method | hyperparameters | learning rate | width | {objective} |",
             "|---|---|---|---|---|---|---|"]
    for rank, row in enumerate(rows[:limit] if limit else rows, 1):
        params = ", ".join(f"{k}={_short(v)}" for k, v in row["params"].items()) or "defaults"
        if row.get("epochs"):
            params += f" (epochs {row['epochs']})"
        score = "n/a" if row["score"] is None else f"{row['score']:.{digits}f}"
        lines.append(f"| {rank} | {row['trial_id']} | {row['method']} | {params} | "
                     f"{row['learning_rate']:.2g} | {row['width'] or '-'} | {score} |")
    return "\n".join(lines)


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@kerasimb_export("kerasimb.tuning.plot_search_history", serializable=False)
def plot_search_history(rows, path, objective="objective"):
    """Plots each trial's score in search order (dots coloured by method) and the best so far.

    Trials are numbered from 1 on a whole-number axis, as the progress lines print them; the
    legend sits beside the axes, never over the points.

    Args:
        rows: `leaderboard(tuner)` rows.
        path: str. The PNG file to write.
        objective: str. The y-axis label.

    Returns:
        `path`.
    """
    from matplotlib import colormaps

    ordered = sorted((r for r in rows if r["score"] is not None), key=lambda r: r["order"])
    figure = new_figure((7.5, 3.8))
    ax = figure.add_subplot()
    method_names = list(dict.fromkeys(r["method"] for r in ordered))
    colors = colormaps["tab10" if len(method_names) <= 10 else "tab20"]
    for i, name in enumerate(method_names):
        points = [(k, r["score"]) for k, r in enumerate(ordered, 1) if r["method"] == name]
        ax.scatter([p[0] for p in points], [p[1] for p in points], color=colors(i % 20),
                   label=name, s=30, zorder=3)
    if ordered:
        best = np.maximum.accumulate([r["score"] for r in ordered])
        ax.step(range(1, len(ordered) + 1), best, where="post", color="black", lw=1.2,
                label="best so far")
        ax.set_xlim(0.5, len(ordered) + 0.5)
    integer_ticks(ax, "x")
    ax.set_xlabel("trial (search order)")
    ax.set_ylabel(objective)
    ax.set_title("Search history")
    ax.grid(alpha=0.3)
    legend_outside(ax, fontsize=7)
    with atomic_path(path) as tmp:
        save_figure(figure, tmp, dpi=110)
    return path


def _describe(row):
    """`focal gamma=2, learning rate 0.001, width 16`: a trial's method and values."""
    params = " ".join(f"{k}={_short(v)}" for k, v in row["params"].items())
    text = f"{row['method']} {params}".rstrip()
    text += f", learning rate {row['learning_rate']:.3g}"
    if row.get("width"):
        text += f", width {row['width']}"
    if row.get("epochs"):
        text += f", {row['epochs']} epochs"
    return text


@kerasimb_export("kerasimb.tuning.show_progress", serializable=False)
def show_progress(tuner, total=None, stream=None):
    """Prints one line per finished trial of `tuner`'s search; returns `tuner`.

    `trial 3/10: focal gamma=2, learning rate 0.001, width 16 -> val balanced_accuracy 0.8123
    (best so far 0.8500)`, printed as each trial ends (Keras Tuner's `on_trial_end`, which
    this wraps). Without a fixed number of trials (Hyperband) the line starts `trial 3:`. A
    trial that failed says `failed`. Trials finished before a resumed search count: the first
    new trial of a search resumed after 4 is trial 5.

    In a distributed search (`kerasimb.tuning.distributed`) the chief prints these lines with
    the worker that ran each trial (`trial 3/10 (tuner1): ...`), and each worker prints one
    line per trial it ran, named by its id (`tuner1: trial 02: focal gamma=2, ... -> val
    balanced_accuracy 0.8123 (best so far 0.8500)`).

    Args:
        tuner: a tuner from `make_tuner`.
        total: int or `None`. The number of trials the search runs (`max_trials`), or `None`
            when it is not fixed. Defaults to `None`.
        stream: a text stream, or `None` for `sys.stdout` (looked up when a line is printed).
            Defaults to `None`.

    Returns:
        `tuner`, whose `on_trial_end` now also prints.

    Example:

    >>> from kerasimb import data, tuning
    >>> hm = tuning.ImbalanceHyperModel(data.load_dataset("digits-lt"), methods=["ce"])
    >>> tuner = tuning.make_tuner(hm, max_trials=2, directory="/tmp/kt_progress_doc",
    ...                           overwrite=True)
    >>> tuner = tuning.show_progress(tuner, total=2)
    >>> tuner.search(verbose=0)  # doctest: +SKIP
    trial 1/2: ce, learning rate 0.001, width 32 -> val balanced_accuracy 0.4713 (best so far 0.4713)
    trial 2/2: ...
    """
    from kerasimb.tuning.distributed import distributed_role

    if total is not None:
        total = check_int(total, "total", minimum=1)
    role = distributed_role()
    objective = tuner.oracle.objective.name
    label = objective.replace("val_", "val ", 1)

    def write(text):
        print(text, file=stream or sys.stdout, flush=True)

    if role is not None and not role.is_chief:  # a worker: the chief holds the trials
        end_trial = tuner.on_trial_end

        def on_worker_trial_end(trial):
            end_trial(trial)
            stored = tuner.oracle.get_trial(trial.trial_id)
            row = _trial_params(tuner.hypermodel, stored.hyperparameters)
            outcome = (f"{label} {stored.score:.4f}" if str(stored.status) == "COMPLETED"
                       and stored.score is not None else str(stored.status).lower())
            best = tuner.oracle.get_best_trials(1)
            best = (f"{best[0].score:.4f}" if best and best[0].score is not None
                    and str(best[0].status) == "COMPLETED" else "none yet")
            write(f"{role.tuner_id}: trial {stored.trial_id}: {_describe(row)} -> {outcome} "
                  f"(best so far {best})")

        tuner.on_trial_end = on_worker_trial_end
        return tuner

    def line(stored, tuner_id=None):
        number = sum(str(t.status) in ENDED for t in tuner.oracle.trials.values())
        row = {"score": None, **_trial_params(tuner.hypermodel, stored.hyperparameters)}
        if str(stored.status) == "COMPLETED":
            rows = [r for r in leaderboard(tuner) if r["trial_id"] == stored.trial_id]
            row = rows[0] if rows else row
        scores = [r["score"] for r in leaderboard(tuner) if r["score"] is not None]
        outcome = (f"{label} {row['score']:.4f}" if row["score"] is not None
                   else f"{str(stored.status).lower()}")
        best = f"{max(scores):.4f}" if scores else "none yet"
        count = f"{number}/{total}" if total is not None else f"{number}"
        by = f" ({tuner_id})" if tuner_id else ""
        write(f"trial {count}{by}: {_describe(row)} -> {outcome} (best so far {best})")

    if role is not None:  # the chief: trials end in the oracle, as workers report them
        tuner.oracle.listeners.append(line)
        return tuner
    end_trial = tuner.on_trial_end

    def on_trial_end(trial):
        end_trial(trial)
        line(tuner.oracle.get_trial(trial.trial_id))

    tuner.on_trial_end = on_trial_end
    return tuner


@kerasimb_export("kerasimb.tuning.TuningResult", serializable=False)
class TuningResult:
    """The outcome of `tune`: the leaderboard, the best configuration and its test scores.

    Attributes:
        leaderboard: list of `leaderboard` rows, best first.
        best: the best row (`leaderboard[0]`).
        test_report: the `metrics.report` dict of the retrained best configuration on the test
            split.
        settings: dict of the search settings.
        dataset_summary: str.
    """

    def __init__(self, leaderboard, test_report, settings, dataset_summary=""):
        self.leaderboard = list(leaderboard)
        self.best = self.leaderboard[0] if self.leaderboard else None
        self.test_report = dict(test_report or {})
        self.settings = dict(settings)
        self.dataset_summary = dataset_summary

    def table(self, limit=None):
        return leaderboard_table(self.leaderboard, f"val_{self.settings['objective']}", limit)

    def to_json(self):
        return jsonable({"settings": self.settings, "best": self.best,
                          "leaderboard": self.leaderboard, "test_report": self.test_report})

    def test_metrics(self):
        """The scalar test-report keys the report shows: `SCALAR_METRICS` the test report
        defines, without the quadratic kappa and Kendall's τ unless the classes are ordinal
        (`settings["ordinal"]`)."""
        ordinal = bool(self.settings.get("ordinal", False))
        return [k for k in SCALAR_METRICS if self.test_report.get(k) is not None
                and (ordinal or k not in ORDINAL_ONLY)]

    def write_leaderboard_csv(self, path):
        """Writes `leaderboard.csv`: one row per completed trial, best first, with its rank,
        trial id, search order (from 1), method, every searched value (`<method>.<name>`
        columns, empty where a trial's method has no such value), learning rate, width,
        Hyperband epochs, the objective score and every `val_*` metric (for nominal classes
        without the quadratic kappa and Kendall's τ, unless one is the objective), at full
        precision; a distributed search adds the `tuner_id` that ran each trial after `order`.
        Returns `path`."""
        params = list(dict.fromkeys(f"{r['method']}.{k}" for r in self.leaderboard
                                    for k in r["params"]))
        hidden = set() if self.settings.get("ordinal") else \
            {f"val_{m}" for m in ORDINAL_ONLY} - {f"val_{self.settings.get('objective')}"}
        metrics = sorted({k for r in self.leaderboard for k in r["metrics"]} - hidden)
        by = ["tuner_id"] if self.settings.get("distributed") else []
        header = ["rank", "trial_id", "order", *by, "method", *params, "learning_rate", "width",
                  "epochs", "score", *metrics]
        rows = []
        for rank, r in enumerate(self.leaderboard, 1):
            values = {f"{r['method']}.{k}": v for k, v in r["params"].items()}
            rows.append([rank, r["trial_id"], r["order"] + 1, *(r.get(k) for k in by),
                         r["method"], *(values.get(p) for p in params), r["learning_rate"],
                         r["width"], r.get("epochs"), r["score"],
                         *(r["metrics"].get(m) for m in metrics)])
        return write_csv(path, header, rows)

    def save(self, output):
        """Writes the search's files to `output`; returns a dict of their paths.

        - `tuning.json` (`to_json()`), `report.md` and `search_history.png`;
        - `leaderboard.csv` (`write_leaderboard_csv`);
        - `summary.csv`: the retrained best configuration's test figures, one row;
        - `per_class.csv`: its test recall, precision and F1 per class (from the confusion
          matrix), with the training and test counts.

        The report names the search-state folder relative to `output` (or by its name alone
        when it lies elsewhere), never as an absolute path.
        """
        os.makedirs(output, exist_ok=True)
        paths = {"json": os.path.join(output, "tuning.json"),
                 "history": os.path.join(output, "search_history.png"),
                 "report": os.path.join(output, "report.md"),
                 "leaderboard": os.path.join(output, "leaderboard.csv")}
        write_json(paths["json"], self.to_json())
        self.write_leaderboard_csv(paths["leaderboard"])
        objective = self.settings["objective"]
        metrics = self.test_metrics()
        if self.best is not None and self.test_report:
            paths["summary"] = write_csv(
                os.path.join(output, "summary.csv"),
                ["method", "trial_id", *metrics],
                [[self.best["method"], self.best["trial_id"],
                  *(self.test_report[k] for k in metrics)]])
            if self.test_report.get("confusion_matrix") is not None:
                paths["per_class"] = self._write_per_class_csv(
                    os.path.join(output, "per_class.csv"))
        plot_search_history(self.leaderboard, paths["history"], f"val {objective}")
        s = self.settings
        lines = [
            f"# Hyperparameter search on {s['dataset']}", "",
            self.dataset_summary, "",
            "## Settings", "",
            f"- tuner: {s['tuner']}, trials: {s['trials']} completed (max_trials {s['max_trials']})",
            f"- methods searched: {', '.join(s['methods'])}",
            f"- backbone: {s['backbone']}, epochs per trial: {s['epochs']}, batch size "
            f"{s['batch_size']}, seed {s['seed']}",
            f"- objective: validation {objective} (maximised); the test split is used once, "
            "for the retrained best configuration",
            f"- search state: {_state_folder(s['directory'], output)} (rerun the same command "
            "to resume)",
            *([f"- the search space is exhausted: every configuration was tried, "
               f"{s['trials']} completed"] if s.get("exhausted") else []),
            *([f"- distributed: the trials ran on {len(s.get('workers') or [])} worker(s) "
               f"({', '.join(s.get('workers') or [])}); the chief retrained the best "
               "configuration"] if s.get("distributed") else []),
            f"- search time: {s['search_seconds']:.0f} s", "",
            "## Leaderboard (validation)", "", self.table(), "",
            "![search history](search_history.png)", "",
        ]
        if self.best is not None:
            lines += ["## Best configuration, retrained and scored on the test split", "",
                      f"- method `{self.best['method']}` with "
                      + (", ".join(f"{k}={_short(v)}" for k, v in self.best['params'].items())
                         or "its defaults")
                      + f", learning rate {self.best['learning_rate']:.3g}"
                      + (f", width {self.best['width']}" if self.best["width"] else ""), "",
                      "| metric | test |", "|---|---|"]
            for key in metrics:
                lines.append(f"| {key} | {self.test_report[key]:.4f} |")
            lines += ["", *self._test_notes()]
        lines += ["## Files", ""]
        for key in ("json", "leaderboard", "summary", "per_class"):
            if key in paths:
                lines.append(f"- `{os.path.basename(paths[key])}`: {_FILES[key]}")
        lines.append("")
        write_text(paths["report"], "\n".join(lines))
        return paths

    def _test_notes(self):
        """The balanced-test note and the single-class warning for the retrained best model."""
        matrix = self.test_report.get("confusion_matrix")
        if matrix is None:
            return []
        matrix = np.asarray(matrix)
        support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
        names = list(self.test_report.get("per_class_recall") or range(len(support)))
        lines = []
        if np.count_nonzero(predicted) == 1:
            lines += [f"**Warning:** the retrained `{self.best['method']}` model predicts a "
                      f"single class, `{names[int(np.argmax(predicted))]}`, for every test "
                      "image.", ""]
        if support.min() > 0 and len(set(support.tolist())) == 1:
            lines += [f"The test split is balanced ({int(support[0])} images in every class), "
                      "so accuracy equals balanced accuracy here.", ""]
        return lines

    def _write_per_class_csv(self, path):
        names = list(self.test_report.get("per_class_recall") or {})
        scores = per_class_scores(self.test_report["confusion_matrix"])
        if len(names) != len(scores["support"]):
            names = [str(k) for k in range(len(scores["support"]))]
        counts = self.settings.get("class_counts") or [None] * len(names)
        rows = [[name, counts[k], int(scores["support"][k]), scores["recall"][k],
                 scores["precision"][k], scores["f1"][k]] for k, name in enumerate(names)]
        return write_csv(path, ["class", "train_count", "test_count", "recall", "precision",
                                "f1"], rows)


_FILES = {
    "json": "the settings, every trial and the test figures",
    "leaderboard": "one row per completed trial, best first: method, values, validation scores",
    "summary": "the retrained best configuration's test figures, one row",
    "per_class": "its test recall, precision and F1 per class, with the training and test "
                 "counts",
}


def _state_folder(directory, output):
    """The search-state folder as a report shows it: relative to `output` when inside it,
    else its name only (a report carries no absolute local path)."""
    relative = os.path.relpath(os.path.abspath(directory), os.path.abspath(output))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return f"`{os.path.basename(os.path.normpath(directory))}`, a folder outside this one"
    return f"`{relative}/` in this folder"


@kerasimb_export("kerasimb.tuning.tune", serializable=False)
def tune(dataset, methods=None, backbone="small_cnn", objective="balanced_accuracy",
         tuner="random", max_trials=10, epochs=10, batch_size=32, directory="runs/tune",
         project_name="kerasimb", overwrite=False, seed=0, verbose=0, progress=True,
         worker_timeout=60.0, **hypermodel_kwargs):
    """Searches methods and hyperparameters, retrains the best and scores it on the test split.

    With `progress=True` a line is printed as each trial finishes (`show_progress`):

    ```
    trial 1/2: ce, learning rate 0.001, width 32 -> val balanced_accuracy 0.4713 (best so far 0.4713)
    trial 2/2: focal gamma=2, learning rate 0.001, width 32 -> val balanced_accuracy 0.5120 (best so far 0.5120)
    ```

    and a resumed search first says how many trials it found finished. No configuration is
    trained twice: a search over a finite space stops once every configuration was tried, and
    says so (`settings["exhausted"]`).

    A distributed search (`kerasimb.tuning.distributed`): run the same call in every process,
    with Keras Tuner's environment variables (`KERASTUNER_TUNER_ID=chief` in one process,
    `tuner0`, `tuner1`, ... in the workers, `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`
    the chief's address) and one shared `directory`. The chief serves the search while the
    workers run the trials; when every trial has ended the chief retrains the best
    configuration, scores it on the test split and returns the `TuningResult`, and each worker
    returns `None`. Rerunning the same call without the variables gives the same result from
    the stored trials.

    Args:
        dataset: `ImageDataset`.
        methods: `None` (every registered method) or a list of names.
        backbone, objective, epochs, batch_size, seed: as in `ImbalanceHyperModel`.
        tuner, max_trials, directory, project_name, overwrite, worker_timeout: as in
            `make_tuner`.
        verbose: `fit` verbosity. Defaults to `0`.
        progress: bool. Print a line per finished trial (`trial i/N: ...`; `trial i: ...` for
            Hyperband, which has no fixed number of trials). Defaults to `True`.
        **hypermodel_kwargs: more `ImbalanceHyperModel` arguments (`widths`, `learning_rates`,
            `model_kwargs`, ...).

    Returns:
        `TuningResult`; `None` in a worker of a distributed search.

    Raises:
        RuntimeError: no trial completed.
        ValueError: bad arguments, or bad `KERASTUNER_*` environment variables.
    """
    from kerasimb.tuning.distributed import distributed_role

    role = distributed_role()
    hypermodel = ImbalanceHyperModel(dataset, methods=methods, backbone=backbone,
                                     objective=objective, epochs=epochs, batch_size=batch_size,
                                     seed=seed, verbose=verbose, **hypermodel_kwargs)
    search = make_tuner(hypermodel, tuner, max_trials=max_trials, directory=directory,
                        project_name=project_name, overwrite=overwrite, seed=seed,
                        worker_timeout=worker_timeout)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(
            "Invalid type received for argument `progress`. Expected a bool. "
            f"Received: progress={progress!r}"
        )
    worker = role is not None and not role.is_chief
    if progress:
        total = None if tuner == "hyperband" else max_trials
        done = [] if worker else leaderboard(search)  # a worker holds no trials
        if done:
            scores = [r["score"] for r in done if r["score"] is not None]
            best = f"{max(scores):.4f}" if scores else "none yet"
            print(f"resuming: {len(done)}" + (f"/{total}" if total else "")
                  + f" trials already finished (best so far {best})", flush=True)
        show_progress(search, total=total)
    start = time.time()
    search.search(verbose=verbose)
    seconds = time.time() - start
    if worker:
        if progress:
            ran = ", ".join(search.trials_run) or "none"
            print(f"{role.tuner_id}: the chief says the search is over; this worker ran "
                  f"{len(search.trials_run)} trial(s) ({ran}). The chief retrains the best "
                  "configuration and writes the report.", flush=True)
        return None
    rows = leaderboard(search)
    if not rows:
        raise RuntimeError(f"No trial of the search in {directory}/{project_name} completed.")
    exhausted = bool(getattr(search.oracle, "exhausted", False))
    if exhausted and progress:
        print(f"The search space is exhausted: all {len(search.oracle.trials)} of its "
              f"configurations were tried (max_trials {max_trials}).", flush=True)
    best_hp = search.oracle.get_trial(rows[0]["trial_id"]).hyperparameters
    keras.backend.clear_session()
    method, model, _ = hypermodel.train(best_hp, epochs=best_hp.values.get("tuner/epochs"))
    test_report = hypermodel.report(method, model, split="test")
    settings = {"dataset": dataset.name, "tuner": tuner, "max_trials": max_trials,
                "trials": len(rows), "methods": hypermodel.method_names, "backbone": backbone,
                "objective": objective, "epochs": epochs, "batch_size": batch_size, "seed": seed,
                "ordinal": bool(dataset.ordinal), "class_counts": list(dataset.class_counts),
                "directory": os.path.join(directory, project_name), "search_seconds": seconds,
                "exhausted": exhausted, "distributed": role is not None,
                "workers": (sorted({r["tuner_id"] for r in rows if r["tuner_id"]})
                            if role is not None else None)}
    return TuningResult(rows, test_report, settings, dataset.summary())
