"""`ComparisonResult`: what `compare` measured, as data, and its summaries over seeds.

How a result is written out (markdown tables, JSON, CSV, plots) is `kerasimb.runs.report`; the
result's `table()` and `save()` are shortcuts to it.
"""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.bootstrap import paired_bootstrap, verdict_from_interval
from kerasimb.metrics.report import SCALAR_METRICS
from kerasimb.runs import report
from kerasimb.utils.formatting import jsonable, mean_std

__all__ = ["ComparisonResult"]


@kerasimb_export("kerasimb.runs.ComparisonResult", serializable=False)
class ComparisonResult:
    """The outcome of `compare`: one metrics report per (method, seed), and summaries of them.

    Args:
        dataset: dict describing the dataset (name, class names, training class counts, split
            sizes, image shape, summary text; `ordinal` (bool, default `False`) decides whether
            the default tables show the quadratic kappa; an optional `test_paths`, one file
            path per test image, names the images in `predictions.csv`).
        settings: dict of the exact training settings used.
        runs: list of dicts, one per (method, seed) in training order, with keys `method`,
            `seed`, `report` (the `metrics.report` dict on the test split), `history` (the
            `fit` history) and `seconds` (train + predict wall time). A run that diverged has
            `diverged` (`{"epoch", "last_finite_loss", "reason"}`, see `compare`'s
            `stop_on_divergence`) and an empty `report`; it is left out of every mean.
        y_true: int array `(N,)`, the test labels.
        probabilities: dict `(method, seed) -> float array (N, C)` of test-set probabilities.
        experiment: `None` or the JSON-compatible identity of the experiment, `{"kind",
            "settings"}` (`compare` sets it: every setting the results depend on), which
            `save` records in the folder's `manifest.json` (`runs.manifest`). `None`: the
            dataset, methods and seeds.
        files: paths of the files `compare` wrote or loaded for these runs (finished runs,
            saved models), listed in the manifest of the folder they are in. Defaults to none.
        test_labels: `None`, or a dict `seed -> int array` of each run key's own test labels
            when the runs were tested on different images (`compare(folds=K,
            fold_as_test=True)`; `y_true` is then `None`). Defaults to `None`.
        external: `None`, or the external test set's results (`compare(test_dataset=)`): a
            dict with `dataset` (as `dataset` above), `y_true` (its test labels) and
            `probabilities` (`(method, seed) -> (N, C)` array); each run record then holds
            `external_report`. Defaults to `None`.

    Attributes:
        methods: list of str, the method labels in order.
        seeds: list of int.
        reports: dict `(method, seed) -> report dict`.
        shard: `None`, or what a shard of `compare(shard=)` did (a dict: its runs, those it
            trained and loaded, the runs still missing, the report paths when it wrote them).

    Example:

    >>> result = ComparisonResult(
    ...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
    ...     [{"method": "ce", "seed": s, "report": {"mcc": v}} for s, v in [(0, 0.5), (1, 0.7)]])
    >>> result.summary(["mcc"])["ce"]["mcc"]["mean"]
    0.6
    """

    shard = None

    def __init__(self, dataset, settings, runs, y_true=None, probabilities=None,
                 experiment=None, files=None, test_labels=None, external=None):
        self.dataset = dict(dataset)
        self.settings = dict(settings)
        self.runs = list(runs)
        self.y_true = None if y_true is None else np.asarray(y_true)
        self.probabilities = dict(probabilities or {})
        self._experiment = None if experiment is None else jsonable(experiment)
        self.files = [str(path) for path in files or ()]
        self._versus = {}  # versus_baseline() results by their arguments (2,000 draws each)
        self.test_labels = (None if test_labels is None else
                            {key: np.asarray(y) for key, y in test_labels.items()})
        self.external = None if external is None else dict(external)

    @property
    def experiment(self):
        """The experiment's identity recorded in `manifest.json`: the one `compare` gave, else
        `{"kind": "comparison", "settings": {dataset, methods, seeds}}`."""
        if self._experiment is not None:
            return self._experiment
        dataset = {k: self.dataset.get(k) for k in ("name", "class_names", "class_counts",
                                                     "test_size")}
        return jsonable({"kind": "comparison", "settings": {
            "dataset": dataset, "methods": self.methods, "seeds": self.seeds}})

    @property
    def methods(self):
        return list(dict.fromkeys(run["method"] for run in self.runs))

    @property
    def seeds(self):
        return list(dict.fromkeys(run["seed"] for run in self.runs))

    @property
    def reports(self):
        return {(run["method"], run["seed"]): run["report"] for run in self.runs}

    def runs_of(self, method):
        """The run records of `method`, in seed order."""
        return [run for run in self.runs if run["method"] == method]

    def diverged(self):
        """The runs that diverged (their loss or prediction stopped being finite), in run
        order: a list of run records, each with `diverged` (`{"epoch", "last_finite_loss",
        "reason"}`) and no scores.

        >>> result = ComparisonResult({"name": "toy", "class_names": ["a"], "class_counts": [1]},
        ...     {}, [{"method": "ce", "seed": 0, "report": {},
        ...           "diverged": {"epoch": 2, "last_finite_loss": 1.5, "reason": "nan loss"}}])
        >>> [(run["method"], run["diverged"]["epoch"]) for run in result.diverged()]
        [('ce', 2)]
        """
        return [run for run in self.runs if run.get("diverged")]

    def scored_methods(self):
        """The methods with at least one run that did not diverge, in order."""
        return [m for m in self.methods if any(not run.get("diverged") for run in self.runs_of(m))]

    @property
    def default_metrics(self):
        """The metrics the tables, `summary()` and the CSV files show when none are named:
        `runs.report.default_metrics(dataset["ordinal"])` (the quadratic kappa only for
        ordinal classes)."""
        return report.default_metrics(bool(self.dataset.get("ordinal", False)))

    def summary(self, metrics=None):
        """Returns `{method: {metric: {"mean", "std", "n", "values"}}}` over seeds.

        `metrics`: sequence of scalar report keys, or `None` for `default_metrics`.

        `std` is the sample standard deviation (ddof=1), `None` with a single seed. Undefined
        values (e.g. an AUC when a class is missing from the test split) and diverged runs
        (`diverged()`) are left out of the mean and counted out of `n`.
        """
        metrics = self.check_metrics(self.default_metrics if metrics is None else metrics)
        return {method: {m: mean_std([run["report"].get(m) for run in self.runs_of(method)])
                         for m in metrics}
                for method in self.methods}

    @property
    def folds(self):
        """The number of cross-validation folds the runs are (`compare(folds=)`), or `None`
        when they are seeds."""
        return self.settings.get("folds") or None

    def medians(self, metrics=None):
        """Returns `{method: {metric: median}}` over the runs (folds or seeds): `np.median` of
        the defined values, `None` without one (diverged runs and undefined values left out).

        >>> result = ComparisonResult(
        ...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
        ...     [{"method": "ce", "seed": s, "report": {"mcc": v}}
        ...      for s, v in [(0, 0.5), (1, 0.9), (2, 0.6)]])
        >>> result.medians(["mcc"])["ce"]["mcc"]
        0.6
        """
        summary = self.summary(metrics)
        return {method: {m: (float(np.median([v for v in stat["values"] if v is not None]))
                             if stat["n"] else None) for m, stat in stats.items()}
                for method, stats in summary.items()}

    def external_result(self):
        """The runs scored on the external test set (`compare(test_dataset=)`) as a
        `ComparisonResult` of their own (each run's `report` is its `external_report`), or
        `None` without an external test set."""
        if self.external is None:
            return None
        runs = [{**{k: v for k, v in run.items() if k not in ("report", "external_report")},
                 "report": run.get("external_report", {})} for run in self.runs]
        return ComparisonResult(self.external["dataset"], self.settings, runs,
                                self.external.get("y_true"),
                                self.external.get("probabilities"))

    def per_class_recall(self):
        """Returns `{method: {class_name: {"mean", "std", "n", "values"}}}` over seeds."""
        return {
            method: {name: mean_std([run["report"].get("per_class_recall", {}).get(name)
                                     for run in self.runs_of(method)])
                     for name in self.dataset["class_names"]}
            for method in self.methods
        }

    def check_metrics(self, metrics):
        """Returns `metrics` as a tuple of scalar report keys present in the runs.

        When every run diverged (no report holds a score), the keys of
        `metrics.report.SCALAR_METRICS` are accepted.

        Raises:
            ValueError: an empty selection or a key no run reports as a scalar.
        """
        if isinstance(metrics, str):
            metrics = (metrics,)
        metrics = tuple(metrics)
        available = set()
        for run in self.runs:
            available |= {k for k, v in run["report"].items() if v is None or np.isscalar(v)}
        if self.runs and not any(run["report"] for run in self.runs):  # every run diverged
            available = set(SCALAR_METRICS)
        unknown = [m for m in metrics if m not in available]
        if not metrics or unknown:
            raise ValueError(
                "Invalid value received for argument `metrics`. Expected scalar report keys, some "
                f"of {sorted(available)}. Received: metrics={list(metrics)}"
            )
        return metrics

    @property
    def baseline(self):
        """The method the others are judged against: `settings["baseline"]` when it is one of
        `methods` (`compare(baseline=)`), else the first method; `None` without methods."""
        chosen = self.settings.get("baseline")
        methods = self.methods
        return chosen if chosen in methods else (methods[0] if methods else None)

    @property
    def main_metric(self):
        """The figure of the `vs baseline` comparison: `settings["main_metric"]`
        (`compare(main_metric=)`), else `"balanced_accuracy"`."""
        return self.settings.get("main_metric") or "balanced_accuracy"

    def versus_baseline(self, baseline=None, metric=None, draws=2000, confidence=0.95, seed=0):
        """Each method's paired difference from the baseline in `metric`, with a two-level
        bootstrap interval over seeds and test images (`metrics.paired_bootstrap`).

        Seed `s` of a method is paired with seed `s` of the baseline, on the same test images;
        only the seeds where both have predictions (neither diverged) are used. The result is
        computed once per set of arguments and kept.

        Args:
            baseline: a method label, or `None` for `self.baseline`. Defaults to `None`.
            metric: a scalar `metrics.report` key, or `None` for `self.main_metric`.
                Defaults to `None`.
            draws: int >= 100. Defaults to `2000`.
            confidence: float in (0, 1). Defaults to `0.95`.
            seed: int >= 0, the resampling seed. Defaults to `0`.

        Returns:
            dict `{method: dict}` for every method but the baseline, in order; each dict is
            `paired_bootstrap`'s (`difference`, `low`, `high`, `confidence`, `draws`,
            `num_seeds`, `reliable`, `verdict`, ...) with `baseline` and `seeds` (the paired
            seeds) added; a method with no seed paired with the baseline has `difference`,
            `low` and `high` `None`, `num_seeds` 0 and the verdict `"not shown"`. Empty when
            the result holds no per-image test predictions (`y_true`, `probabilities`) or a
            single method.

        Raises:
            ValueError: an unknown `baseline` or `metric`, or a bad `draws` / `confidence`.

        Example:

        >>> import numpy as np
        >>> y = np.array([0, 0, 1, 1] * 10)
        >>> right, wrong = np.eye(2)[y] * 0.8 + 0.1, np.eye(2)[1 - y] * 0.8 + 0.1
        >>> probs = {("ce", 0): right, ("ce", 1): right, ("new", 0): wrong, ("new", 1): right}
        >>> result = ComparisonResult(
        ...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
        ...     [{"method": m, "seed": s, "report": {}} for m in ("ce", "new") for s in (0, 1)],
        ...     y, probs)
        >>> out = result.versus_baseline()["new"]
        >>> out["baseline"], out["seeds"], out["difference"], out["reliable"]
        ('ce', [0, 1], -0.5, False)
        """
        baseline = self.baseline if baseline is None else baseline
        metric = self.main_metric if metric is None else metric
        if baseline not in self.methods:
            raise ValueError(
                "Invalid value received for argument `baseline`. Expected one of the methods "
                f"{self.methods}. Received: baseline={baseline!r}")
        if metric not in SCALAR_METRICS:
            raise ValueError(
                "Invalid value received for argument `metric`. Expected a scalar "
                f"`metrics.report` key, one of {list(SCALAR_METRICS)}. Received: "
                f"metric={metric!r}")
        key = (baseline, metric, draws, confidence, seed)
        cache = self.__dict__.setdefault("_versus", {})  # (also for subclasses' own __init__)
        if key in cache:
            return cache[key]
        if ((self.y_true is None and self.test_labels is None) or not self.probabilities
                or len(self.methods) < 2):
            return {}
        counts = self.dataset.get("class_counts")
        out = {}
        for method in self.methods:
            if method == baseline:
                continue
            seeds = [s for s in self.seeds
                     if (method, s) in self.probabilities and (baseline, s) in self.probabilities]
            if not seeds:
                out[method] = {"metric": metric, "baseline": baseline, "seeds": [],
                               "difference": None, "low": None, "high": None,
                               "confidence": confidence, "draws": draws, "num_seeds": 0,
                               "reliable": False, "verdict": verdict_from_interval(None, None)}
                continue
            found = paired_bootstrap(
                self.y_true if self.test_labels is None else [self.test_labels[s] for s in seeds],
                [self.probabilities[method, s] for s in seeds],
                [self.probabilities[baseline, s] for s in seeds], metric=metric, draws=draws,
                confidence=confidence, seed=seed,
                class_counts=counts if metric == "smallest_class_recall" else None)
            out[method] = {**found, "baseline": baseline, "seeds": list(seeds)}
        cache[key] = out
        return out

    def confusion_matrix(self, method):
        """The test confusion matrix of `method` summed over its seeds
        (`runs.report.summed_confusion_matrix`)."""
        return report.summed_confusion_matrix(self, method)

    def table(self, metrics=None, **kwargs):
        """The results table in markdown (see `runs.report.comparison_table` for the options)."""
        return report.comparison_table(self, metrics, **kwargs)

    def per_class_recall_table(self, digits=3):
        """Recall of every class per method in markdown (`runs.report.per_class_recall_table`)."""
        return report.per_class_recall_table(self, digits)

    def to_json(self):
        """Returns a JSON-serialisable dict: dataset, settings, summary, every run,
        `median` (`medians()`, with folds), `external` (with an external test set: its
        `dataset`, `summary` and, with folds, `median`; each run's `external_report` is in
        `runs`), `diverged`, one `{"method", "seed", "epoch", "last_finite_loss", "reason"}` per
        diverged run (empty when none), and `versus_baseline`, `versus_baseline()` (each method's paired
        difference from the baseline in the main metric with its 95 % interval; empty without
        per-image predictions)."""
        external = self.external_result()
        return jsonable({"dataset": self.dataset, "settings": self.settings,
                         "summary": self.summary(), "runs": self.runs,
                         **({"median": self.medians()} if self.folds else {}),
                         **({"external": {"dataset": external.dataset,
                                          "summary": external.summary(),
                                          **({"median": external.medians()}
                                             if self.folds else {})}}
                            if external is not None else {}),
                         "diverged": [{"method": run["method"], "seed": run["seed"],
                                       **run["diverged"]} for run in self.diverged()],
                         "versus_baseline": self.versus_baseline() if self.methods else {}})

    def save(self, output_dir, paths=None, overwrite=False):
        """Writes the result to `output_dir` (`runs.report.save_comparison`: `report.md`,
        `metrics.json`, `summary.csv`, `per_class.csv`, `predictions.csv`, plots, and last
        `manifest.json`); returns the paths written, a dict `name -> path`. `paths`: the test
        images' file paths for `predictions.csv`, or `None` (`dataset["test_paths"]` when
        present, else indices). A folder holding another experiment is refused unless
        `overwrite=True`, which removes that experiment's files first."""
        return report.save_comparison(self, output_dir, paths=paths, overwrite=overwrite)

    def __repr__(self):
        return (f"ComparisonResult(dataset={self.dataset['name']!r}, methods={self.methods}, "
                f"seeds={self.seeds})")

    def __str__(self):
        return self.table()

    def _repr_markdown_(self):
        return self.table()
