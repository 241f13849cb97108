"""ImbalanceHyperModel: search space, build/fit, a 3-trial search, resuming an interrupted one."""

import keras
import keras_tuner
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from kerasimb import tuning
from kerasimb.data.image_dataset import ImageDataset

TINY = dict(epochs=1, batch_size=16, width=4, widths=(4,), model_kwargs={"depth": 1}, seed=0)


def tiny_dataset(seed=0):
    rng = np.random.default_rng(seed)

    def split(counts):
        y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
        x = rng.integers(0, 120, size=(len(y), 8, 8, 1)).astype(np.uint8)
        x[y == 1, :4] += 120  # a little signal
        x[y == 2, 4:] += 120
        return x, y

    return ImageDataset(train=split([24, 8, 4]), val=split([6, 4, 3]), test=split([6, 4, 3]),
                        class_names=["a", "b", "c"], name="tiny")


@pytest.fixture(scope="module")
def dataset():
    return tiny_dataset()


def test_fresh_hp_is_the_first_method_at_its_defaults(dataset):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["focal", "ce"], learning_rate=2e-3,
                                    width=16, widths=(8, 16))
    hp = keras_tuner.HyperParameters()
    method = hm.method_from_hp(hp)
    assert method.name == "focal" and method.params == {"gamma": 2.0}
    assert hp.values == {"method": "focal", "focal.gamma": 2.0, "learning_rate": 2e-3,
                         "width": 16}
    assert hm.learning_rate_from_hp(hp) == 2e-3
    assert hm.model_fn_from_hp(hp).kwargs == {"width": 16}


def test_method_hyperparameters_are_conditional(dataset):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ce", "focal", "balanced-mixup"])
    hp = keras_tuner.HyperParameters()
    hm.declare_hyperparameters(hp)
    assert hp.values["method"] == "ce"
    assert not hp.is_active("focal.gamma") and not hp.is_active("balanced-mixup.alpha")
    hp.values["method"] = "balanced-mixup"
    hp.values["balanced-mixup.alpha"] = 0.25
    assert hp.is_active("balanced-mixup.alpha") and not hp.is_active("focal.gamma")
    assert hm.method_from_hp(hp).params["alpha"] == 0.25


def test_methods_none_means_every_registered_method(dataset):
    from kerasimb import methods

    hm = tuning.ImbalanceHyperModel(dataset)
    assert hm.method_names == methods.names()


def test_fixed_width_and_learning_rate(dataset):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ce"], learning_rates=None, widths=None,
                                    width=8)
    hp = keras_tuner.HyperParameters()
    hm.declare_hyperparameters(hp)
    assert hp.values == {"method": "ce"}
    assert hm.model_fn_from_hp(hp).kwargs == {"width": 8}


def test_build_returns_the_methods_compiled_model(dataset):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ldam"], **TINY)
    model = hm.build(keras_tuner.HyperParameters())
    assert isinstance(model, keras.Model) and model.optimizer is not None
    assert tuple(model.output.shape) == (None, 3)
    assert model.layers[-1].name == "cosine_logits"  # LDAM's own head


def test_evaluate_matches_sklearn(dataset):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ce"], **TINY)
    method, model, _ = hm.train(keras_tuner.HyperParameters())
    x, y = dataset.val
    expected = balanced_accuracy_score(y, np.argmax(model.predict(x / 255.0, verbose=0), -1))
    scores = hm.evaluate(method, model)
    assert scores["balanced_accuracy"] == pytest.approx(expected)
    assert all(isinstance(v, float) for v in scores.values())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"methods": ["nope"]}, ValueError, "identifier"),
        ({"methods": []}, ValueError, "`methods`"),
        ({"methods": ["ce", "ce"]}, ValueError, "distinct"),
        ({"objective": "loss"}, ValueError, "`objective`"),
        ({"epochs": 0}, ValueError, "`epochs`"),
        ({"learning_rates": (1e-2, 1e-4)}, ValueError, "`learning_rates`"),
        ({"backbone": "nope"}, ValueError, "`name`"),
        ({"width": 32, "widths": (4, 8)}, ValueError, r"`width`.*\[4, 8\].*Received: width=32"),
        ({"widths": []}, ValueError, "Received: widths=\\[\\]"),
        ({"widths": 8}, TypeError, "`widths`"),
    ],
)
def test_bad_arguments(dataset, kwargs, error, match):
    with pytest.raises(error, match=match):
        tuning.ImbalanceHyperModel(dataset, **kwargs)


def test_dataset_type_error():
    with pytest.raises(TypeError, match="`dataset`"):
        tuning.ImbalanceHyperModel("digits-lt")


def test_make_tuner_errors(dataset):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ce"])
    with pytest.raises(ValueError, match="`tuner`"):
        tuning.make_tuner(hm, "grid")
    with pytest.raises(TypeError, match="`hypermodel`"):
        tuning.make_tuner(object())


def test_three_trial_random_search(dataset, tmp_path):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ce", "focal"], **TINY)
    tuner = tuning.make_tuner(hm, "random", max_trials=3, directory=str(tmp_path), seed=1)
    tuner.search(verbose=0)
    rows = tuning.leaderboard(tuner)
    assert len(rows) == 3
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    for row in rows:
        assert row["metrics"]["val_balanced_accuracy"] == row["score"]
        assert row["method"] in ("ce", "focal")
        assert set(row["params"]) == ({"gamma"} if row["method"] == "focal" else set())
    best = tuner.get_best_hyperparameters(1)[0]
    assert best.values["method"] == rows[0]["method"]
    table = tuning.leaderboard_table(rows)
    assert table.count("\n") == 4
    path = tuning.plot_search_history(rows, str(tmp_path / "history.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


_CALLS = {"n": 0}


class _Interrupt(keras.callbacks.Callback):
    """Interrupts the search (like Ctrl-C) at the start of the second trial."""

    def on_train_begin(self, logs=None):
        _CALLS["n"] += 1
        if _CALLS["n"] == 2:
            raise KeyboardInterrupt


def test_interrupted_search_resumes_from_its_directory(dataset, tmp_path):
    def tuner(overwrite=False):
        hm = tuning.ImbalanceHyperModel(dataset, methods=["ce", "focal"], **TINY)
        return tuning.make_tuner(hm, "random", max_trials=2, directory=str(tmp_path),
                                 overwrite=overwrite, seed=3)

    first = tuner(overwrite=True)
    _CALLS["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        first.search(callbacks=[_Interrupt()], verbose=0)
    done = tuning.leaderboard(first)
    assert len(done) == 1

    resumed = tuner()  # overwrite=False: reloads the oracle from the directory
    assert [r["trial_id"] for r in tuning.leaderboard(resumed)] == [done[0]["trial_id"]]
    resumed.search(callbacks=[_Interrupt()], verbose=0)  # _CALLS["n"] is past 2 now
    rows = tuning.leaderboard(resumed)
    assert len(rows) == 2
    kept = [r for r in rows if r["trial_id"] == done[0]["trial_id"]]
    assert kept and kept[0]["score"] == done[0]["score"]  # the finished trial was not rerun
    assert _CALLS["n"] == 3  # one more training: the unfinished trial only


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_other_tuners(dataset, tmp_path, kind):
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ce", "focal", "ce+perturb"],
                                    **{**TINY, "epochs": 3 if kind == "hyperband" else 1})
    tuner = tuning.make_tuner(hm, kind, max_trials=3, directory=str(tmp_path))
    tuner.search(verbose=0)
    rows = tuning.leaderboard(tuner)
    assert len(rows) >= 3 and rows[0]["score"] is not None
    if kind == "hyperband":
        assert {r["epochs"] for r in rows} >= {1, 3}


@pytest.mark.slow
def test_tune_end_to_end(dataset, tmp_path):
    result = tuning.tune(dataset, methods=["ce", "balanced-mixup"], max_trials=2,
                         directory=str(tmp_path / "search"), **TINY)
    paths = result.save(str(tmp_path / "out"))
    text = open(paths["report"]).read()
    assert "Leaderboard" in text and "search_history.png" in text
    assert 0.0 <= result.test_report["balanced_accuracy"] <= 1.0


def test_width_choices_are_exactly_the_searched_widths(dataset):
    import keras_tuner

    for widths, default in (((4,), 4), ((8, 16, 64), 16), ((16, 32, 64), 32)):
        hm = tuning.ImbalanceHyperModel(dataset, methods=["ce"], widths=widths)
        hp = keras_tuner.HyperParameters()
        hm.declare_hyperparameters(hp)
        assert hp._hps["width"][0].values == list(widths)
        assert hp.get("width") == default


def test_augment_goes_to_single_image_methods_only(dataset, monkeypatch):
    from kerasimb import methods

    seen = []

    def spy(self, *args, **kwargs):
        seen.append((self.name, kwargs.get("augment")))
        raise RuntimeError("stop before training")

    monkeypatch.setattr(methods.Method, "train", spy)
    hm = tuning.ImbalanceHyperModel(dataset, methods=["ce", "aduni"], augment="flip", **TINY)
    for name in ("ce", "aduni"):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("method", name)
        with pytest.raises(RuntimeError, match="stop"):
            hm.train(hp)
    assert seen == [("ce", "flip"), ("aduni", None)]
