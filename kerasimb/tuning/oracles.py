"""Keras Tuner's oracles and tuners with two fixes: distinct configurations, and trials that
outlive their worker.

`make_tuner` builds the tuners of this module (`RandomSearch`, `BayesianOptimization`,
`Hyperband`: subclasses of Keras Tuner's own, with the same arguments). Their oracles differ
from Keras Tuner's in three ways:

- **No configuration is trained twice.** Keras Tuner's Bayesian oracle proposes the optimum of
  its Gaussian process without checking whether that point was already tried; on a search whose
  best point lies on a bound of the space (a learning rate at its maximum, the first width) it
  proposes that same point again and again (8 of 12 trials of one README search trained the
  same `ce` configuration). Here a proposal already tried is replaced by a random configuration
  not yet tried (its known score already informs the Gaussian process). Random draws were
  already checked, but gave up after 20 collisions in a row, so a small finite space could be
  declared exhausted while configurations were left; here, after those 20 collisions, a finite
  space (choices, booleans, fixed values, integers) is enumerated and one of the configurations
  not yet tried is drawn. When none is left the search stops early, and says so
  (`exhausted`). Configurations are compared by their active values only (a conditional value
  that does not apply is not part of a configuration). Hyperband trains a configuration again
  on purpose, with more epochs, and is left as it is.
- **A worker that dies does not lose its trial** (a distributed search, see
  `kerasimb.tuning.distributed`). Workers send a heartbeat every few seconds; a worker silent
  for longer than `worker_timeout` seconds is given up, and its trial goes back in the queue for
  the next worker that asks (a worker restarted with the same `KERASTUNER_TUNER_ID` gets its own
  trial back at once; a chief restarted requeues every trial that was running, as Keras Tuner
  already does). A trial whose worker died `max_lost_per_trial` times is marked failed, so
  that a configuration that kills its workers (out of memory) cannot stall the search. A
  worker with nothing left to do waits (`IDLE`) while other workers' trials are running, so
  that a requeued trial still finds a worker.
- **The oracle records which tuner ran each trial** (`ran_by`), kept in `oracle.json`.

Example:

>>> import keras_tuner
>>> hp = keras_tuner.HyperParameters()
>>> _ = hp.Choice("width", [8, 16])
>>> oracle = RandomSearchOracle(objective=keras_tuner.Objective("score", "max"),
...                             max_trials=5, hyperparameters=hp, seed=0)
>>> sorted(tuple(v.items()) for v in configurations(oracle.hyperparameters))
[(('width', 8),), (('width', 16),)]
"""

import collections
import random
import time

import keras_tuner
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.engine.hyperparameters import hp_types
from keras_tuner.src.tuners import bayesian, hyperband, randomsearch

from kerasimb.api_export import kerasimb_export
from kerasimb.tuning import distributed
from kerasimb.tuning.distributed import HEARTBEAT

__all__ = ["BayesianOptimization", "BayesianOptimizationOracle", "Hyperband", "HyperbandOracle",
           "RandomSearch", "RandomSearchOracle", "configurations"]

RUNNING = trial_module.TrialStatus.RUNNING
IDLE = trial_module.TrialStatus.IDLE
STOPPED = trial_module.TrialStatus.STOPPED
COMPLETED = trial_module.TrialStatus.COMPLETED
FAILED = trial_module.TrialStatus.FAILED

# Finite spaces with more configurations than this are not enumerated (random draws then
# almost never collide anyway).
MAX_ENUMERATED = 100_000


def _choices(hp):
    """The values `hp` can take, or `None` when they are not finitely many."""
    if isinstance(hp, (hp_types.Choice, hp_types.Boolean, hp_types.Fixed)):
        return list(hp.values)
    if isinstance(hp, hp_types.Int) and hp.sampling == "linear":
        return list(range(hp.min_value, hp.max_value + 1, hp.step or 1))
    return None


@kerasimb_export("kerasimb.tuning.oracles.configurations", serializable=False)
def configurations(hyperparameters, limit=MAX_ENUMERATED):
    """Every configuration of a finite search space: a list of dicts of active values.

    A hyperparameter inside a conditional scope appears only in the configurations where its
    condition holds.

    Args:
        hyperparameters: `keras_tuner.HyperParameters` (the space; its values are ignored).
        limit: int. Give up (return `None`) beyond this many configurations.

    Returns:
        A list of `{name: value}` dicts, or `None` when the space is not finite (a float
        range, a log-sampled integer) or larger than `limit`.
    """
    space = list(hyperparameters.space)
    options = []
    for hp in space:
        values = _choices(hp)
        if values is None:
            return None
        options.append(values)
    found = []

    def walk(index, values):
        if len(found) > limit:
            return
        if index == len(space):
            found.append(dict(values))
            return
        hp = space[index]
        if not all(condition.is_active(values) for condition in hp.conditions):
            walk(index + 1, values)
            return
        for value in options[index]:
            values[hp.name] = value
            walk(index + 1, values)
            del values[hp.name]

    walk(0, {})
    return None if len(found) > limit else found


class _SearchOracle:
    """What every oracle of this module adds to Keras Tuner's (see the module docstring).

    Attributes:
        worker_timeout: float or `None`. Seconds without a heartbeat after which a worker's
            trial is requeued (`None`: never).
        max_lost_per_trial: int. Requeues of one trial before it is marked failed.
        clock: the clock heartbeats are timed with (`time.monotonic`).
        ran_by: dict, trial id -> the tuner id that ran (or runs) it.
        exhausted: bool. The search stopped early: every configuration was tried.
        listeners: functions called as `listener(trial, tuner_id)` when a trial ends.
    """

    worker_timeout = 60.0
    max_lost_per_trial = 2

    def _kerasimb_init(self):
        self.clock = time.monotonic
        self.ran_by = {}
        self.lost = collections.Counter()
        self.exhausted = False
        self.listeners = []
        self._seen = {}

    # --- Distinct configurations ---------------------------------------------------------------

    def _random_values(self):
        values = super()._random_values()
        if values is not None:
            return values
        every = configurations(self.hyperparameters)
        if every is None:  # not finite: Keras Tuner's 20 collisions in a row decide
            return None
        left = [v for v in every if not self._duplicate(v)]
        if not left:
            return None
        pick = random.Random(self._seed_state).randrange(len(left))
        self._seed_state += 1
        return left[pick]

    # --- Worker liveness -----------------------------------------------------------------------

    def heard_from(self, tuner_id):
        """Records that `tuner_id` is alive now."""
        self._seen[tuner_id] = self.clock()

    def update_trial(self, trial_id, metrics, step=0):
        beats = [name for name in metrics if name.startswith(HEARTBEAT)]
        if beats:  # a heartbeat: lock-free, so it gets through while the oracle is busy
            for name in beats:
                self.heard_from(name[len(HEARTBEAT):])
            return trial_module.Trial(keras_tuner.HyperParameters(), trial_id=trial_id or None,
                                      status=RUNNING)
        return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        self.heard_from(tuner_id)
        self.expire_lost_trials()
        trial = super().create_trial(tuner_id)
        if trial.status == RUNNING:
            self.ran_by[trial.trial_id] = tuner_id
        elif trial.status == STOPPED:
            if self.max_trials and len(self.trials) < self.max_trials:
                self.exhausted = True  # stopped before max_trials: nothing new to draw
            if self.ongoing_trials or self._retry_queue:
                # Other workers' trials are running: wait, in case one of them dies.
                self.tuner_ids.add(tuner_id)
                trial = trial_module.Trial(self.get_space(), status=IDLE)
        return trial

    @keras_tuner.synchronized
    def end_trial(self, trial):
        tuner_id = self.ran_by.get(trial.trial_id)
        if trial.trial_id in self.end_order:
            # A trial ended twice: its worker was given up but finished after all, and another
            # worker ran it again. The first result stands.
            for key, ongoing in list(self.ongoing_trials.items()):
                if ongoing.trial_id == trial.trial_id:
                    self.ongoing_trials.pop(key)
            return
        super().end_trial(trial)
        stored = self.trials[trial.trial_id]
        if stored.status in (COMPLETED, FAILED):
            self._retry_queue[:] = [t for t in self._retry_queue if t != trial.trial_id]
            for listener in list(self.listeners):
                listener(stored, tuner_id)

    @keras_tuner.synchronized
    def expire_lost_trials(self):
        """Gives up the workers not heard from for `worker_timeout` seconds; returns
        `[(tuner_id, trial_id), ...]` for the trials put back in the queue (or failed)."""
        if self.worker_timeout is None:
            return []
        now = self.clock()
        lost = []
        for tuner_id, trial in list(self.ongoing_trials.items()):
            seen = self._seen.setdefault(tuner_id, now)
            if now - seen <= self.worker_timeout:
                continue
            self.ongoing_trials.pop(tuner_id)
            self.tuner_ids.discard(tuner_id)
            self.lost[trial.trial_id] += 1
            if self.lost[trial.trial_id] > self.max_lost_per_trial:
                trial.status = FAILED
                trial.message = (f"its worker died or stopped answering "
                                 f"{self.lost[trial.trial_id]} times")
                self.end_order.append(trial.trial_id)
                self._save_trial(trial)
                print(f"trial {trial.trial_id} failed: {trial.message}", flush=True)
            else:
                self._retry_queue.append(trial.trial_id)
                print(f"worker {tuner_id} sent nothing for {now - seen:.0f} s: trial "
                      f"{trial.trial_id} goes back in the queue", flush=True)
            lost.append((tuner_id, trial.trial_id))
        for tuner_id in list(self.tuner_ids):  # idle workers poll every second or so
            if now - self._seen.setdefault(tuner_id, now) > self.worker_timeout:
                self.tuner_ids.discard(tuner_id)
        if lost:
            self.save()
        return lost

    @keras_tuner.synchronized
    def search_finished(self):
        """No trial is running and every worker has been told to stop (or given up)."""
        return not self.ongoing_trials and not self.tuner_ids

    @keras_tuner.synchronized
    def search_complete(self):
        """Nothing is left to run: `max_trials` trials (or every configuration) were created,
        and none is running or waiting to be run again. Hyperband: never (it knows only when
        asked for a trial)."""
        if self.ongoing_trials or self._retry_queue:
            return False
        return bool(self.exhausted or (self.max_trials and len(self.trials) >= self.max_trials))

    # --- State ---------------------------------------------------------------------------------

    def get_state(self):
        state = super().get_state()
        state["kerasimb"] = {"ran_by": dict(self.ran_by), "lost": dict(self.lost),
                             "exhausted": bool(self.exhausted)}
        return state

    def set_state(self, state):
        super().set_state(state)
        extra = state.get("kerasimb") or {}
        self.ran_by = dict(extra.get("ran_by") or {})
        self.lost = collections.Counter(extra.get("lost") or {})
        self.exhausted = bool(extra.get("exhausted", False))


@kerasimb_export("kerasimb.tuning.oracles.RandomSearchOracle", serializable=False)
class RandomSearchOracle(_SearchOracle, randomsearch.RandomSearchOracle):
    """Keras Tuner's `RandomSearchOracle`, drawing distinct configurations until the space is
    exhausted, with worker liveness (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kerasimb_init()


@kerasimb_export("kerasimb.tuning.oracles.BayesianOptimizationOracle", serializable=False)
class BayesianOptimizationOracle(_SearchOracle, bayesian.BayesianOptimizationOracle):
    """Keras Tuner's `BayesianOptimizationOracle` that never proposes a configuration already
    tried: a repeated proposal of the Gaussian process is replaced by a random configuration
    not yet tried (`repeated_proposals` counts them)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kerasimb_init()
        self.repeated_proposals = 0

    def populate_space(self, trial_id):
        response = super().populate_space(trial_id)
        values = response.get("values")
        if response["status"] != RUNNING or values is None or not self._duplicate(values):
            return response
        self.repeated_proposals += 1
        values = self._random_values()
        if values is None:
            return {"status": STOPPED, "values": None}
        return {"status": RUNNING, "values": values}


@kerasimb_export("kerasimb.tuning.oracles.HyperbandOracle", serializable=False)
class HyperbandOracle(_SearchOracle, hyperband.HyperbandOracle):
    """Keras Tuner's `HyperbandOracle` with worker liveness (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kerasimb_init()

    def search_complete(self):
        return False


class _SearchTuner:
    """The search loop of a worker (heartbeats, waiting while idle) and of the chief (serving
    the oracle, requeueing lost trials), `kerasimb.tuning.distributed`."""

    def _kerasimb_init(self):
        self.trials_run = []

    def search(self, *fit_args, **fit_kwargs):
        role = distributed.distributed_role()
        if role is None:
            return super().search(*fit_args, **fit_kwargs)
        if role.is_chief:
            if "verbose" in fit_kwargs:
                self.oracle.verbose = fit_kwargs["verbose"]
            self.save()
            if not self.oracle.search_complete():
                distributed.serve(self.oracle, role)
            self.save()
            return None
        return distributed.work(self, role, *fit_args, **fit_kwargs)


def _oracle_kwargs(kwargs):
    keys = ("objective", "seed", "hyperparameters", "tune_new_entries", "allow_new_entries",
            "max_retries_per_trial", "max_consecutive_failed_trials")
    return {k: kwargs.pop(k) for k in keys if k in kwargs}


def _configure(oracle, worker_timeout):
    if worker_timeout is not None:
        worker_timeout = float(worker_timeout)
    oracle.worker_timeout = worker_timeout
    return oracle


@kerasimb_export("kerasimb.tuning.oracles.RandomSearch", serializable=False)
class RandomSearch(_SearchTuner, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch` on a `RandomSearchOracle` of this module.

    Args:
        hypermodel, max_trials: as in `keras_tuner.RandomSearch`.
        worker_timeout: float or `None`. See `RandomSearchOracle`. Defaults to `60`.
        **kwargs: the oracle's (`objective`, `seed`, ...) and the tuner's (`directory`,
            `project_name`, `overwrite`, ...) arguments.
    """

    def __init__(self, hypermodel=None, max_trials=10, worker_timeout=60.0, **kwargs):
        self.seed = kwargs.get("seed")
        oracle = _configure(RandomSearchOracle(max_trials=max_trials, **_oracle_kwargs(kwargs)),
                            worker_timeout)
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)
        self._kerasimb_init()


@kerasimb_export("kerasimb.tuning.oracles.BayesianOptimization", serializable=False)
class BayesianOptimization(_SearchTuner, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` on a `BayesianOptimizationOracle` of this module.

    Args:
        hypermodel, max_trials, num_initial_points: as in `keras_tuner.BayesianOptimization`.
        worker_timeout: float or `None`. See `RandomSearchOracle`. Defaults to `60`.
        **kwargs: the oracle's and the tuner's arguments.
    """

    def __init__(self, hypermodel=None, max_trials=10, num_initial_points=None,
                 worker_timeout=60.0, **kwargs):
        oracle = _configure(BayesianOptimizationOracle(
            max_trials=max_trials, num_initial_points=num_initial_points,
            **_oracle_kwargs(kwargs)), worker_timeout)
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)
        self._kerasimb_init()


@kerasimb_export("kerasimb.tuning.oracles.Hyperband", serializable=False)
class Hyperband(_SearchTuner, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` on a `HyperbandOracle` of this module.

    Args:
        hypermodel, max_epochs, factor: as in `keras_tuner.Hyperband`.
        worker_timeout: float or `None`. See `RandomSearchOracle`. Defaults to `60`.
        **kwargs: the oracle's and the tuner's arguments.
    """

    def __init__(self, hypermodel=None, max_epochs=100, factor=3, worker_timeout=60.0,
                 **kwargs):
        oracle = _configure(HyperbandOracle(max_epochs=max_epochs, factor=factor,
                                            **_oracle_kwargs(kwargs)), worker_timeout)
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)
        self._kerasimb_init()
