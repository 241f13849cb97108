"""Bad input across the public entry points: each gives a clear error naming the argument and
the value, before any training starts. Property-based checks (hypothesis) on samplers, losses
and metrics."""

import os

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kerasimb import data, inference, losses, methods, metrics, runs
from kerasimb.cli.main import main
from kerasimb.data import ImageDataset

RNG = np.random.default_rng(0)


def split(per_class, size=8):
    y = np.repeat(np.arange(len(per_class)), per_class)
    return RNG.integers(0, 255, (len(y), size, size, 1)).astype(np.uint8), y


def tiny():
    return ImageDataset(split([8, 4, 2]), split([2, 2, 2]), split([2, 2, 2]), ["a", "b", "c"],
                        name="tiny")


# --- npz files --------------------------------------------------------------------------------


def _good_arrays():
    arrays = {}
    for s in ("train", "val", "test"):
        arrays[f"{s}_images"] = RNG.integers(0, 255, (6, 8, 8)).astype(np.uint8)
        arrays[f"{s}_labels"] = (np.arange(6) % 2)[:, None]
    return arrays


def _npz(tmp_path, name, **changes):
    arrays = _good_arrays()
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def _load(path):
    return data.load_dataset(f"medmnist:{path}")


def test_good_npz_loads(tmp_path):
    assert _load(_npz(tmp_path, "good")).class_counts == [3, 3]


def test_truncated_and_corrupt_npz(tmp_path):
    raw = _npz(tmp_path, "good").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    (tmp_path / "empty.npz").write_bytes(b"")
    for name in ("trunc", "garbage", "empty"):
        with pytest.raises(ValueError, match=rf"flag_or_path.*could not read .*{name}.npz"):
            _load(tmp_path / f"{name}.npz")


def test_npz_with_pickled_object_array_is_refused_not_executed(tmp_path):
    labels = np.array([[0], [1], [0], [1], [0], [1]], dtype=object)
    path = _npz(tmp_path, "obj", train_labels=labels)
    with pytest.raises(ValueError, match="obj.npz.*pickled objects, which kerasimb never loads") as e:
        _load(path)
    assert "allow_pickle" not in str(e.value) and "pickle.load" not in str(e.value)


def test_npz_wrong_key(tmp_path):
    arrays = _good_arrays()
    path = _npz(tmp_path, "wrongkey", train_images=None, train_imgs=arrays["train_images"])
    with pytest.raises(ValueError, match="train_images"):
        _load(path)


def test_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        _load(tmp_path / "nope.npz")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_npz_non_finite_pixels(tmp_path, value):
    images = _good_arrays()["train_images"].astype("float32")
    images[2, 1, 1] = value
    with pytest.raises(ValueError, match=r"train images.*finite.*train images\[2\]"):
        _load(_npz(tmp_path, "nan", train_images=images))


def test_npz_bad_labels(tmp_path):
    labels = (np.arange(6) % 2)[:, None]
    with pytest.raises(ValueError, match="train labels.*>= 0.*-1"):
        _load(_npz(tmp_path, "neg", train_labels=labels - 1))
    with pytest.raises(ValueError, match="train labels.*integer-valued.*0.5"):
        _load(_npz(tmp_path, "float", train_labels=labels + 0.5))
    with pytest.raises(TypeError, match="train labels.*dtype"):
        _load(_npz(tmp_path, "str", train_labels=labels.astype(str)))
    with pytest.raises(ValueError, match="train"):  # test labels out of the training classes
        _load(_npz(tmp_path, "oor", test_labels=labels + 5))


def test_npz_single_class_empty_split_and_shapes(tmp_path):
    zeros = np.zeros((6, 1), np.int64)
    with pytest.raises(ValueError, match="class_names.*at least 2 classes"):
        _load(_npz(tmp_path, "single", train_labels=zeros, val_labels=zeros, test_labels=zeros))
    arrays = _good_arrays()
    with pytest.raises(ValueError, match="`val`.*at least one example"):
        _load(_npz(tmp_path, "empty", val_images=arrays["val_images"][:0],
                   val_labels=arrays["val_labels"][:0]))
    with pytest.raises(ValueError, match=r"one image shape.*\(9, 9, 1\)"):
        _load(_npz(tmp_path, "shape", test_images=RNG.integers(0, 255, (6, 9, 9)).astype("uint8")))


def test_cli_reports_a_bad_file_as_a_usage_error(tmp_path, capsys):
    (tmp_path / "garbage.npz").write_bytes(b"junk")
    assert main(["compare", "--dataset", f"medmnist:{tmp_path / 'garbage.npz'}", "--methods",
                 "ce", "--no-progress"]) == 2
    assert "argument --dataset" in capsys.readouterr().err


# --- image folders ----------------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "images"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            pixels = RNG.integers(0, 255, (8, 8)).astype(np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.png")
    return root


def test_corrupt_truncated_and_mismatched_images(image_folder):
    assert data.load_folder(image_folder).class_counts == [4, 4]
    good = (image_folder / "a" / "1.png").read_bytes()
    (image_folder / "a" / "1.png").write_bytes(good[:40])
    with pytest.raises(ValueError, match=r"`path`.*1.png.*without its IEND chunk"):
        data.load_folder(image_folder)
    (image_folder / "a" / "1.png").write_bytes(b"\x89PNG\r\n garbage")
    with pytest.raises(ValueError, match=r"`path`.*1.png.*neither a PNG nor a JPEG"):
        data.load_folder(image_folder)
    (image_folder / "a" / "1.png").write_bytes(good)
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(image_folder / "b" / "2.png")
    with pytest.raises(ValueError, match=r"`path`.*one size.*\(9, 9\)"):
        data.load_folder(image_folder)


# --- in-memory datasets -----------------------------------------------------------------------


def test_image_dataset_bad_arrays():
    x, y = split([4, 4, 4])
    names = ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"train images.*finite.*train images\[1\]"):
        bad = x.astype("float32")
        bad[1, 0, 0, 0] = np.nan
        ImageDataset((bad, y), (x, y), (x, y), names)
    with pytest.raises(ValueError, match="train labels.*label 3"):
        ImageDataset((x, y + 1), (x, y), (x, y), names)
    with pytest.raises(TypeError, match="train labels.*dtype"):
        ImageDataset((x, y.astype(str)), (x, y), (x, y), names)
    with pytest.raises(TypeError, match="train labels.*dtype bool"):
        ImageDataset((x, y == 1), (x, y), (x, y), ["a", "b"])
    with pytest.raises(ValueError, match=r"`train`.*no examples for classes \['c'\]"):
        ImageDataset((x[:8], y[:8]), (x, y), (x, y), names)
    with pytest.raises(ValueError, match="class_names.*at least 2 classes"):
        ImageDataset((x[:4], y[:4]), (x[:4], y[:4]), (x[:4], y[:4]), ["a"])
    for split_name in ("val", "test"):
        splits = {"train": (x, y), "val": (x, y), "test": (x, y), split_name: (x[:0], y[:0])}
        with pytest.raises(ValueError, match=rf"`{split_name}`.*at least one example"):
            ImageDataset(splits["train"], splits["val"], splits["test"], names)
    with pytest.raises(ValueError, match=r"one image shape.*\(4, 8, 1\)"):
        ImageDataset((x, y), (x[:, :4], y), (x, y), names)


def test_pipelines_bad_arrays():
    x, y = split([4, 4])
    with pytest.raises(ValueError, match=r"`x`.*finite"):
        data.classification_dataset(np.full(x.shape, np.inf, "float32"), y, 2)
    with pytest.raises(ValueError, match="`y`.*label 2"):
        data.classification_dataset(x, y + 1, 2)
    with pytest.raises(ValueError, match="`x`.*at least one example"):
        data.classification_dataset(x[:0], y[:0], 2)
    with pytest.raises(ValueError, match="number of examples"):
        data.classification_dataset(x, y[:5], 2)


# --- hyperparameters --------------------------------------------------------------------------


@pytest.mark.parametrize("make, name, value", [
    (lambda: data.mixup_dataset(*split([4, 4]), alpha=0.0, batch_size=4, seed=0), "alpha", 0.0),
    (lambda: data.mixup_dataset(*split([4, 4]), alpha=-1.0, batch_size=4, seed=0), "alpha", -1.0),
    (lambda: data.balanced_mixup_dataset(*split([4, 4]), alpha=0.0, batch_size=4, seed=0),
     "alpha", 0.0),
    (lambda: data.balanced_mixup_dataset(*split([4, 4]), alpha=-0.5, batch_size=4), "alpha", -0.5),
    (lambda: data.cutmix_dataset(*split([4, 4]), alpha=0.0, batch_size=4), "alpha", 0.0),
    (lambda: data.remix_dataset(*split([4, 4]), alpha=-2.0, batch_size=4), "alpha", -2.0),
    (lambda: methods.get("mixup", alpha=0.0), "alpha", 0.0),
    (lambda: methods.get("balanced-mixup", alpha=-0.1), "alpha", -0.1),
    (lambda: methods.get("ce+perturb", epsilon=-0.1), "epsilon", -0.1),
    (lambda: methods.get("ce+perturb", temperature=0.0), "temperature", 0.0),
    (lambda: methods.get("ce+perturb", temperature=-5.0), "temperature", -5.0),
    (lambda: losses.FocalLoss(gamma=-1.0), "gamma", -1.0),
    (lambda: methods.get("focal", gamma=-0.5), "gamma", -0.5),
    (lambda: losses.ClassBalancedLoss([4, 2], beta=1.0), "beta", 1.0),
    (lambda: losses.ClassBalancedLoss([4, 2], beta=-0.1), "beta", -0.1),
    (lambda: losses.ClassBalancedLoss([4, 2], beta=1.5), "beta", 1.5),
    (lambda: methods.get("cb-softmax", beta=1.0), "beta", 1.0),
    (lambda: methods.get("reweight", weighting="effective", beta=1.0), "beta", 1.0),
    (lambda: losses.class_weights([4, 2], "effective", beta=1.0), "beta", 1.0),
])
def test_absurd_hyperparameters(make, name, value):
    with pytest.raises(ValueError, match=rf"`{name}`.*Received: {name}={value}"):
        make()


def test_perturbation_hyperparameters():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    x = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match="epsilon=-0.1"):
        inference.perturb_inputs(model, x, [4, 4, 2], epsilon=-0.1)
    for temperature in (0.0, -1.0):
        with pytest.raises(ValueError, match=f"temperature={temperature}"):
            inference.perturb_inputs(model, x, [4, 4, 2], temperature=temperature)
        with pytest.raises(ValueError, match=f"temperature={temperature}"):
            inference.PerturbedPredictor(model, [4, 4, 2], temperature=temperature)


@pytest.fixture
def no_training(monkeypatch):
    calls = []
    monkeypatch.setattr(methods.Method, "train", lambda *a, **k: calls.append(1) or 1 / 0)
    return calls


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 15}, r"`batch_size`.*14 in tiny.*batch_size=15"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"epochs": 0}, "epochs=0"),
    ({"learning_rate": -1.0}, "learning_rate=-1.0"),
    ({"learning_rate": float("nan")}, "learning_rate=nan"),
    ({"seeds": [0, 0]}, "seeds"),
    ({"methods": ["nope"]}, "identifier='nope'"),
    ({"select_by": "loss"}, "select_by='loss'"),
])
def test_compare_rejects_before_training(no_training, kwargs, match):
    settings = {"methods": ["ce"], "epochs": 1, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        runs.compare(tiny(), **settings)
    assert not no_training


def test_cli_rejects_absurd_flags(capsys):
    for args, flag in ((["--batch-size", "0"], "--batch-size"), (["--epochs", "-1"], "--epochs"),
                       (["--learning-rate", "inf"], "--learning-rate")):
        assert main(["compare", *args]) == 2
        assert flag in capsys.readouterr().err


# --- property-based checks --------------------------------------------------------------------

COUNTS = st.lists(st.integers(1, 5000), min_size=2, max_size=6)
PROPERTY = settings(max_examples=25, deadline=None)


@PROPERTY
@given(COUNTS, st.floats(0.0, 1.0))
def test_sampler_probabilities_are_a_distribution(counts, q):
    p = np.asarray(data.class_probabilities(counts, q=q))
    assert p.shape == (len(counts),) and np.all(np.isfinite(p)) and np.all(p > 0)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-6)
    # q = 1 is instance sampling (p proportional to n), q = 0 class sampling (uniform)
    if q == 0.0:
        np.testing.assert_allclose(p, 1.0 / len(counts), rtol=1e-6)
    order = np.argsort(counts, kind="stable")
    assert np.all(np.diff(p[order]) >= -1e-12)  # never favours a smaller class for q >= 0


@pytest.mark.parametrize("sampler", ["instance", "class", "sqrt", "balanced-mixup", "mixup",
                                     "cutmix"])
def test_effective_class_distribution_sums_to_one(sampler):
    # every sampler runs (a parameter, not a hypothesis draw that may miss one) and every name
    # is valid: an error is a failure
    @PROPERTY
    @given(COUNTS, st.floats(0.01, 1.0))
    def check(counts, alpha):
        dist = np.asarray(data.effective_class_distribution(counts, sampler, alpha=alpha))
        assert dist.shape == (len(counts),)
        assert np.all(np.isfinite(dist)) and np.all(dist >= 0)
        np.testing.assert_allclose(dist.sum(), 1.0, rtol=1e-6)
        if sampler == "balanced-mixup":
            # (1 - E[λ]) n_j / N + E[λ] / K, λ ~ Beta(α, 1) on the class-sampled batch
            n = np.asarray(counts, float)
            mean_lambda = alpha / (alpha + 1.0)  # mean of Beta(α, 1)
            expected = (1 - mean_lambda) * n / n.sum() + mean_lambda / len(n)
            np.testing.assert_allclose(dist, expected, rtol=1e-9)

    check()


@pytest.mark.parametrize("sampler", ["balanced_mixup", "Instance", "square-root"])
def test_effective_class_distribution_names_an_unknown_sampler(sampler):
    with pytest.raises(ValueError, match=f"sampler={sampler!r}"):
        data.effective_class_distribution([5, 3], sampler)


@st.composite
def logit_batches(draw):
    num_classes = draw(st.integers(2, 5))
    batch = draw(st.integers(1, 6))
    values = draw(st.lists(st.floats(-80.0, 80.0, width=32), min_size=batch * num_classes,
                           max_size=batch * num_classes))
    labels = draw(st.lists(st.integers(0, num_classes - 1), min_size=batch, max_size=batch))
    counts = draw(st.lists(st.integers(1, 1000), min_size=num_classes, max_size=num_classes))
    return (np.asarray(values, np.float32).reshape(batch, num_classes),
            np.asarray(labels), counts)


LOSSES = {
    "focal": lambda counts: losses.FocalLoss(gamma=2.0),
    "cb-focal": lambda counts: losses.ClassBalancedLoss(counts, beta=0.999, loss_type="focal"),
    "cb-softmax": lambda counts: losses.ClassBalancedLoss(counts, beta=0.99, loss_type="softmax"),
    "cb-sigmoid": lambda counts: losses.ClassBalancedLoss(counts, beta=0.9, loss_type="sigmoid"),
    "ldam": lambda counts: losses.LDAMLoss(counts),
    "logit-adjusted": lambda counts: losses.LogitAdjustedLoss(counts),
    "margin": lambda counts: losses.MarginLoss(),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_are_finite_and_non_negative(name):
    @PROPERTY
    @given(logit_batches())
    def check(batch):
        logits, labels, counts = batch
        loss = LOSSES[name](counts)
        one_hot = keras.utils.to_categorical(labels, logits.shape[1]).astype("float32")
        for targets in (labels, one_hot):
            value = float(keras.ops.convert_to_numpy(loss(targets, logits)))
            assert np.isfinite(value) and value >= -1e-6, (name, value)

    check()


@st.composite
def predictions(draw):
    num_classes = draw(st.integers(2, 4))
    n = draw(st.integers(2, 20))
    y = np.asarray(draw(st.lists(st.integers(0, num_classes - 1), min_size=n, max_size=n)))
    scores = np.asarray(draw(st.lists(st.floats(0.0, 1.0), min_size=n * num_classes,
                                      max_size=n * num_classes)), np.float64)
    scores = scores.reshape(n, num_classes) + 1e-3
    return y, scores / scores.sum(axis=1, keepdims=True), num_classes


@PROPERTY
@given(predictions())
def test_metrics_report_in_range(batch):
    y, probs, num_classes = batch
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    result = metrics.report(y, probs, class_names=[str(i) for i in range(num_classes)])
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "smallest_class_recall", "auc"):
        value = result.get(key)
        assert value is None or (np.isnan(value) or 0.0 <= value <= 1.0), (key, value)
    for key in ("mcc", "quadratic_kappa", "kendall_tau"):
        value = result.get(key)
        assert value is None or np.isnan(value) or -1.0 - 1e-9 <= value <= 1.0 + 1e-9, (key, value)
    cm = np.asarray(result["confusion_matrix"])
    assert cm.sum() == len(y) and np.all(cm >= 0)


IDENTITY = keras.Sequential([keras.Input((5,)), keras.layers.Identity()])


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, width=32), min_size=10, max_size=10))
def test_method_predict_probabilities_sum_to_one(values):
    logits = np.asarray(values, np.float32).reshape(2, 5)
    probs = methods.get("ce").predict(IDENTITY, logits)
    assert np.all(np.isfinite(probs)) and np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
