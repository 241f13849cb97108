"""`tuning.oracles`: distinct configurations until the space is exhausted, and a distributed
search's bookkeeping (lost workers' trials requeued, idle workers kept, tuner ids recorded),
driven directly, without training or processes, on a clock the test moves."""

import keras_tuner
import pytest

from kerasimb.tuning import distributed_role, oracles
from kerasimb.tuning.distributed import HEARTBEAT

OBJECTIVE = keras_tuner.Objective("score", "max")


def space():
    """A conditional space of 6 configurations: ce x 2 widths, focal x 2 gammas x 2 widths."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("method", ["ce", "focal"])
    with hp.conditional_scope("method", ["focal"]):
        hp.Choice("focal.gamma", [1.0, 2.0])
    hp.Choice("width", [16, 32])
    return hp


def score(values):
    """Best at ce, width 16: the point Keras Tuner's Gaussian process kept proposing."""
    return (0.1 if values["method"] == "ce" else 0.0) + (0.05 if values["width"] == 16 else 0.0)


def make(cls, tmp_path, max_trials=9, **kwargs):
    oracle = cls(objective=OBJECTIVE, max_trials=max_trials, hyperparameters=space(), seed=0,
                 **kwargs)
    oracle._set_project_dir(str(tmp_path), "p")
    return oracle


def finish(oracle, trial, status="COMPLETED"):
    oracle.update_trial(trial.trial_id, {"score": score(trial.hyperparameters.values)})
    trial.status = status
    oracle.end_trial(trial)


def key(values):
    return tuple(sorted(values.items()))


def test_configurations_of_a_conditional_space():
    found = oracles.configurations(space())
    assert sorted(map(key, found)) == sorted(map(key, [
        {"method": "ce", "width": 16}, {"method": "ce", "width": 32},
        {"method": "focal", "focal.gamma": 1.0, "width": 16},
        {"method": "focal", "focal.gamma": 1.0, "width": 32},
        {"method": "focal", "focal.gamma": 2.0, "width": 16},
        {"method": "focal", "focal.gamma": 2.0, "width": 32}]))
    hp = space()
    hp.Int("depth", 1, 3)
    assert len(oracles.configurations(hp)) == 18
    assert oracles.configurations(hp, limit=10) is None
    hp.Float("learning_rate", 1e-4, 1e-2)
    assert oracles.configurations(hp) is None  # not finite


@pytest.mark.parametrize("cls, kwargs", [
    (oracles.RandomSearchOracle, {}),
    (oracles.BayesianOptimizationOracle, {"num_initial_points": 2}),
])
def test_distinct_configurations_until_the_space_is_exhausted(cls, kwargs, tmp_path):
    oracle = make(cls, tmp_path, max_trials=9, **kwargs)
    tried = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        tried.append(key(trial.hyperparameters.values))
        finish(oracle, trial)
    assert trial.status == "STOPPED" and oracle.exhausted
    assert len(tried) == 6 and len(set(tried)) == 6  # every configuration, once
    assert oracle.search_complete()
    if cls is oracles.BayesianOptimizationOracle:
        # the Gaussian process did propose a configuration again; it was replaced
        assert oracle.repeated_proposals >= 1


def test_a_search_with_trials_left_is_not_exhausted(tmp_path):
    oracle = make(oracles.RandomSearchOracle, tmp_path, max_trials=3)
    for _ in range(3):
        finish(oracle, oracle.create_trial("tuner0"))
    assert oracle.create_trial("tuner0").status == "STOPPED"
    assert not oracle.exhausted and oracle.search_complete()
    assert set(oracle.ran_by.values()) == {"tuner0"}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def live_oracle(tmp_path, max_trials=3, timeout=10.0):
    oracle = make(oracles.RandomSearchOracle, tmp_path, max_trials=max_trials)
    oracle.clock = Clock()
    oracle.worker_timeout = timeout
    return oracle


def beat(oracle, tuner_id):
    got = oracle.update_trial("", {f"{HEARTBEAT}{tuner_id}": 1.0})
    assert got.status == "RUNNING"


def test_a_silent_workers_trial_goes_to_another_worker(tmp_path, capsys):
    oracle = live_oracle(tmp_path)
    first = oracle.create_trial("tuner1")
    second = oracle.create_trial("tuner2")
    oracle.clock.now = 8.0
    beat(oracle, "tuner2")  # tuner1 says nothing from now on
    assert oracle.expire_lost_trials() == []
    oracle.clock.now = 15.0
    assert oracle.expire_lost_trials() == [("tuner1", first.trial_id)]
    assert "worker tuner1 sent nothing for 15 s: trial" in capsys.readouterr().out
    assert "tuner1" not in oracle.ongoing_trials and "tuner1" not in oracle.tuner_ids
    finish(oracle, second)
    again = oracle.create_trial("tuner2")  # the lost trial first, before a new one
    assert again.trial_id == first.trial_id
    assert again.hyperparameters.values == first.hyperparameters.values
    assert oracle.ran_by[first.trial_id] == "tuner2"
    finish(oracle, again)
    third = oracle.create_trial("tuner2")
    assert third.status == "RUNNING" and third.trial_id not in (first.trial_id, second.trial_id)
    finish(oracle, third)
    assert oracle.create_trial("tuner2").status == "STOPPED"
    assert oracle.search_finished()
    assert sorted(t.status for t in oracle.trials.values()) == ["COMPLETED"] * 3
    # the heartbeat added nothing to any trial's metrics
    assert all(set(t.metrics.metrics) == {"score"} for t in oracle.trials.values())


def test_a_late_result_of_a_given_up_worker_is_taken_once(tmp_path):
    oracle = live_oracle(tmp_path, max_trials=4)
    first = oracle.create_trial("tuner1")
    second = oracle.create_trial("tuner2")
    oracle.clock.now = 20.0
    beat(oracle, "tuner2")
    assert oracle.expire_lost_trials() == [("tuner1", first.trial_id)]
    # tuner1 was only slow: its result arrives before anyone ran the trial again; it is
    # taken, and the trial leaves the queue
    late = oracle.trials[first.trial_id]
    finish(oracle, late)
    assert oracle.trials[first.trial_id].status == "COMPLETED"
    assert first.trial_id not in oracle._retry_queue
    finish(oracle, second)
    new = oracle.create_trial("tuner2")
    assert new.trial_id not in (first.trial_id, second.trial_id)
    # the other order: the trial is run again and finished first; the late result is ignored
    oracle.clock.now = 28.0
    beat(oracle, "tuner2")  # its last word
    third = oracle.create_trial("tuner3")
    oracle.clock.now = 40.0
    beat(oracle, "tuner3")
    assert oracle.expire_lost_trials() == [("tuner2", new.trial_id)]
    finish(oracle, third)
    rerun = oracle.create_trial("tuner3")
    assert rerun.trial_id == new.trial_id and oracle.ran_by[new.trial_id] == "tuner3"
    finish(oracle, rerun)
    ends = list(oracle.end_order)
    oracle.end_trial(oracle.trials[new.trial_id])  # tuner2's result, at last: ignored
    assert oracle.end_order == ends and oracle.ran_by[new.trial_id] == "tuner3"
    assert oracle.create_trial("tuner3").status == "STOPPED" and oracle.search_finished()
    assert sorted(t.status for t in oracle.trials.values()) == ["COMPLETED"] * 4


def test_a_worker_restarted_with_its_id_gets_its_trial_back(tmp_path):
    oracle = live_oracle(tmp_path)
    first = oracle.create_trial("tuner1")
    assert oracle.create_trial("tuner1").trial_id == first.trial_id  # Keras Tuner's own rule


def test_an_idle_worker_waits_while_others_run_and_stops_after(tmp_path):
    oracle = live_oracle(tmp_path, max_trials=2)
    first = oracle.create_trial("tuner1")
    finish(oracle, oracle.create_trial("tuner2"))
    assert oracle.create_trial("tuner2").status == "IDLE"  # tuner1 may still die
    assert "tuner2" in oracle.tuner_ids and not oracle.search_finished()
    finish(oracle, first)
    assert oracle.create_trial("tuner2").status == "STOPPED"
    assert oracle.create_trial("tuner1").status == "STOPPED"
    assert oracle.search_finished()


def test_a_trial_that_keeps_losing_its_worker_fails(tmp_path, capsys):
    oracle = live_oracle(tmp_path, max_trials=1)
    oracle.max_lost_per_trial = 1
    trial = oracle.create_trial("tuner1")
    oracle.clock.now = 11.0
    oracle.expire_lost_trials()
    assert oracle.create_trial("tuner2").trial_id == trial.trial_id
    oracle.clock.now = 22.0
    oracle.expire_lost_trials()
    assert oracle.trials[trial.trial_id].status == "FAILED"
    assert "its worker died or stopped answering 2 times" in capsys.readouterr().out
    assert oracle.create_trial("tuner3").status == "STOPPED"


def test_the_chief_state_keeps_tuner_ids_and_requeues_running_trials(tmp_path):
    oracle = live_oracle(tmp_path)
    done = oracle.create_trial("tuner1")
    finish(oracle, done)
    running = oracle.create_trial("tuner2")
    oracle.save()
    again = make(oracles.RandomSearchOracle, tmp_path)
    again.reload()  # a chief restarted on the same folder
    assert again.ran_by == {done.trial_id: "tuner1", running.trial_id: "tuner2"}
    assert again.create_trial("tuner3").trial_id == running.trial_id


@pytest.mark.parametrize("environ, message", [
    ({"KERASTUNER_TUNER_ID": "tuner1"}, "environment variables KERASTUNER_ORACLE_IP and "
     "KERASTUNER_ORACLE_PORT: not set or empty (while KERASTUNER_TUNER_ID='tuner1' is set)"),
    ({"KERASTUNER_ORACLE_IP": "10.0.0.5", "KERASTUNER_ORACLE_PORT": "8000"},
     "environment variable KERASTUNER_TUNER_ID: not set or empty"),
    ({"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "h",
      "KERASTUNER_ORACLE_PORT": "http"},
     "environment variable KERASTUNER_ORACLE_PORT: expected a port number from 1 to 65535. "
     "Received: KERASTUNER_ORACLE_PORT='http'"),
    ({"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "h",
      "KERASTUNER_ORACLE_PORT": "0"}, "Received: KERASTUNER_ORACLE_PORT='0'"),
])
def test_incomplete_or_bad_variables_are_refused(environ, message):
    with pytest.raises(ValueError) as error:
        distributed_role(environ)
    assert message in str(error.value)


def test_roles():
    assert distributed_role({}) is None
    chief = distributed_role({"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "::1",
                              "KERASTUNER_ORACLE_PORT": "8000"})
    assert chief.is_chief and chief.address == "[::1]:8000"
    worker = distributed_role({"KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_IP": "h",
                               "KERASTUNER_ORACLE_PORT": "8000"})
    assert not worker.is_chief and worker.address == "h:8000"


def test_make_tuner_refuses_to_let_a_worker_delete_the_shared_search(monkeypatch, tmp_path):
    from kerasimb import data, tuning

    hm = tuning.ImbalanceHyperModel(data.load_dataset("digits-lt", image_size=8),
                                    methods=["ce"], epochs=1)
    (tmp_path / "kerasimb").mkdir()
    (tmp_path / "kerasimb" / "oracle.json").write_text("{}")  # the chief's state
    with pytest.raises(ValueError, match="argument `worker_timeout`"):
        tuning.make_tuner(hm, directory=str(tmp_path), worker_timeout=0)
    for name, value in {"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
                        "KERASTUNER_ORACLE_PORT": "8000"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=r"argument `overwrite`.*Received: overwrite=True with "
                                         r"KERASTUNER_TUNER_ID='tuner1'"):
        tuning.make_tuner(hm, directory=str(tmp_path), overwrite=True)
    assert (tmp_path / "kerasimb" / "oracle.json").read_text() == "{}"
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "x")
    with pytest.raises(ValueError, match="KERASTUNER_ORACLE_PORT"):
        tuning.make_tuner(hm, directory=str(tmp_path))
