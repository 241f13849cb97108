"""Running a search: `make_tuner`, `leaderboard`, `plot_search_history` and `tune`.

`tune()` is what `kerasimb tune` runs: a Keras Tuner search with an
`ImbalanceHyperModel`, the leaderboard, the best configuration retrained once more and scored
once on the test split, and a report (`TuningResult.save`).
"""

import os
import time

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.tuning.hypermodel import LEARNING_RATE, METHOD, WIDTH, ImbalanceHyperModel
from kerasimb.metrics.report import SCALAR_METRICS
from kerasimb.utils.atomic import write_json, write_text
from kerasimb.utils.formatting import jsonable
from kerasimb.utils.validation import check_choice, check_int

TUNERS = ("random", "bayesian", "hyperband")


@kerasimb_export("kerasimb.tuning.make_tuner", serializable=False)
def make_tuner(hypermodel, tuner="random", max_trials=10, directory="runs/tune",
               project_name="kerasimb", overwrite=False, seed=0, hyperband_factor=3):
    """Returns a Keras Tuner tuner over `hypermodel`, maximising `hypermodel.objective`.

    With `overwrite=False` (the default) a search started before in `directory/project_name`
    resumes: finished trials are kept and unfinished ones run again.

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

    Raises:
        ValueError: an unknown tuner, bad numbers.

    Example:

    >>> from kerasimb import data, tuning
    >>> hm = tuning.ImbalanceHyperModel(data.load_dataset("digits-lt"), methods=["ce"])
    >>> tuner = tuning.make_tuner(hm, "random", max_trials=2, directory="/tmp/kt_doc",
    ...                           overwrite=True)
    >>> type(tuner).__name__
    'RandomSearch'
    """
    import keras_tuner

    if not isinstance(hypermodel, ImbalanceHyperModel):
        raise TypeError(
            "Invalid type received for argument `hypermodel`. Expected an "
            f"`ImbalanceHyperModel`. Received: hypermodel={type(hypermodel).__name__}"
        )
    check_choice(tuner, "tuner", TUNERS)
    max_trials = check_int(max_trials, "max_trials", minimum=1)
    common = dict(objective=hypermodel.objective, directory=directory, project_name=project_name,
                  overwrite=overwrite, seed=seed)
    if tuner == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if tuner == "bayesian":
        return keras_tuner.BayesianOptimization(
            hypermodel, max_trials=max_trials, num_initial_points=min(max_trials, 3), **common)
    return keras_tuner.Hyperband(
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
    and `order` (the trial's position in the search, from 0).

    Args:
        tuner: a tuner from `make_tuner` (or any Keras Tuner tuner of an
            `ImbalanceHyperModel`).
        completed_only: bool. Leave out running, failed and invalid trials. Defaults to `True`.
    """
    objective = tuner.oracle.objective
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
                     **_trial_params(tuner.hypermodel, trial.hyperparameters)})
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

    Args:
        rows: `leaderboard(tuner)` rows.
        path: str. The PNG file to write.
        objective: str. The y-axis label.

    Returns:
        `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted((r for r in rows if r["score"] is not None), key=lambda r: r["order"])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    method_names = list(dict.fromkeys(r["method"] for r in ordered))
    colors = plt.get_cmap("tab20")
    for i, name in enumerate(method_names):
        points = [(k, r["score"]) for k, r in enumerate(ordered) if r["method"] == name]
        ax.scatter([p[0] for p in points], [p[1] for p in points], color=colors(i % 20),
                   label=name, s=30, zorder=3)
    if ordered:
        best = np.maximum.accumulate([r["score"] for r in ordered])
        ax.step(range(len(ordered)), best, where="post", color="black", lw=1.2,
                label="best so far")
    ax.set_xlabel("trial (search order)")
    ax.set_ylabel(objective)
    ax.set_title("Search history")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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

    def save(self, output):
        """Writes `tuning.json`, `search_history.png` and `report.md` to `output`; returns paths."""
        os.makedirs(output, exist_ok=True)
        paths = {"json": os.path.join(output, "tuning.json"),
                 "history": os.path.join(output, "search_history.png"),
                 "report": os.path.join(output, "report.md")}
        write_json(paths["json"], self.to_json())
        objective = self.settings["objective"]
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
            f"- search state: `{s['directory']}` (rerun the same command to resume)",
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
            for key in SCALAR_METRICS:
                value = self.test_report.get(key)
                if value is not None:
                    lines.append(f"| {key} | {value:.4f} |")
            lines.append("")
        write_text(paths["report"], "\n".join(lines))
        return paths


@kerasimb_export("kerasimb.tuning.tune", serializable=False)
def tune(dataset, methods=None, backbone="small_cnn", objective="balanced_accuracy",
         tuner="random", max_trials=10, epochs=10, batch_size=32, directory="runs/tune",
         project_name="kerasimb", overwrite=False, seed=0, verbose=0, **hypermodel_kwargs):
    """Searches methods and hyperparameters, retrains the best and scores it on the test split.

    Args:
        dataset: `ImageDataset`.
        methods: `None` (every registered method) or a list of names.
        backbone, objective, epochs, batch_size, seed: as in `ImbalanceHyperModel`.
        tuner, max_trials, directory, project_name, overwrite: as in `make_tuner`.
        verbose: `fit` verbosity. Defaults to `0`.
        **hypermodel_kwargs: more `ImbalanceHyperModel` arguments (`widths`, `learning_rates`,
            `model_kwargs`, ...).

    Returns:
        `TuningResult`.

    Raises:
        RuntimeError: no trial completed.
    """
    hypermodel = ImbalanceHyperModel(dataset, methods=methods, backbone=backbone,
                                     objective=objective, epochs=epochs, batch_size=batch_size,
                                     seed=seed, verbose=verbose, **hypermodel_kwargs)
    search = make_tuner(hypermodel, tuner, max_trials=max_trials, directory=directory,
                        project_name=project_name, overwrite=overwrite, seed=seed)
    start = time.time()
    search.search(verbose=verbose)
    seconds = time.time() - start
    rows = leaderboard(search)
    if not rows:
        raise RuntimeError(f"No trial of the search in {directory}/{project_name} completed.")
    best_hp = search.oracle.get_trial(rows[0]["trial_id"]).hyperparameters
    keras.backend.clear_session()
    method, model, _ = hypermodel.train(best_hp, epochs=best_hp.values.get("tuner/epochs"))
    test_report = hypermodel.report(method, model, split="test")
    settings = {"dataset": dataset.name, "tuner": tuner, "max_trials": max_trials,
                "trials": len(rows), "methods": hypermodel.method_names, "backbone": backbone,
                "objective": objective, "epochs": epochs, "batch_size": batch_size, "seed": seed,
                "directory": os.path.join(directory, project_name), "search_seconds": seconds}
    return TuningResult(rows, test_report, settings, dataset.summary())

