"""The shared confusion-matrix base: state, input handling, graph use, errors, serialization."""

import doctest
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from metric_references import METRIC_IDS, METRICS, REFERENCES, logits_for
from sklearn.metrics import confusion_matrix

from kerasimb.api_export import PUBLIC_API
from kerasimb.metrics import ConfusionMatrixMetric, SmallestClassRecall
from kerasimb.testing import TestCase

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

ALL = [ConfusionMatrixMetric] + METRICS
ALL_IDS = ["ConfusionMatrixMetric"] + METRIC_IDS


def _data(seed, num_classes, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, num_classes, n))
    return rng, y, y_pred, logits_for(y_pred, num_classes, rng)


def test_matrix_matches_sklearn_weighted_and_accumulated():
    rng, y, y_pred, logits = _data(0, 5, 90)
    w = rng.uniform(0.1, 2.0, 90).astype(np.float32)
    metric = ConfusionMatrixMetric(5)
    for part in (slice(0, 10), slice(10, 60), slice(60, 90)):
        metric.update_state(y[part], logits[part], sample_weight=w[part])
    expected = confusion_matrix(y, y_pred, labels=range(5), sample_weight=w)
    np.testing.assert_allclose(metric.result().numpy(), expected, rtol=1e-5)
    assert metric.result().shape == (5, 5)
    assert len(metric.variables) == 1


def test_dtype_of_state_and_result():
    assert ConfusionMatrixMetric(3).confusion_matrix.dtype == "float32"
    metric = ConfusionMatrixMetric(3, dtype="float64")
    metric.update_state([0, 1], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert metric.confusion_matrix.dtype == "float64"
    assert metric.result().dtype == "float64"


@pytest.mark.parametrize("cls", ALL, ids=ALL_IDS)
def test_tf_function_and_xla_match_eager(cls):
    _, y, _, logits = _data(1, 4, 48)
    w = np.linspace(0.5, 1.5, 48).astype(np.float32)
    eager = cls(4)
    eager.update_state(y, logits, sample_weight=w)
    for jit in (False, True):
        metric = cls(4)

        @tf.function(jit_compile=jit)
        def step(y_true, y_pred, weights, metric=metric):
            metric.update_state(y_true, y_pred, sample_weight=weights)
            return metric.result()

        step(y[:20], logits[:20], w[:20])  # traced with a static batch, ...
        step(y[20:], logits[20:], w[20:])  # ... then retraced for another
        np.testing.assert_allclose(step(y[:0], logits[:0], w[:0]), eager.result(), atol=1e-6)


def test_dynamic_batch_inside_tf_function():
    metric = ConfusionMatrixMetric(3)
    spec = (tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, 3), tf.float32))

    @tf.function(input_signature=spec)
    def step(y_true, y_pred):
        metric.update_state(y_true, y_pred)

    _, y, y_pred, logits = _data(2, 3, 30)
    step(y.astype(np.int32), logits)
    np.testing.assert_allclose(metric.result(), confusion_matrix(y, y_pred, labels=range(3)))


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
def test_float16_inputs(cls):
    _, y, y_pred, logits = _data(3, 3, 40)
    onehot = np.eye(3, dtype=np.float16)[y]
    expected = REFERENCES[cls](y, y_pred, None, 3)
    for labels in (y, onehot):
        metric = cls(3)
        weights = np.ones(40, np.float16)
        metric.update_state(labels, logits.astype(np.float16), sample_weight=weights)
        assert metric.result().dtype == "float32"
        np.testing.assert_allclose(float(metric.result()), expected, atol=2e-6)


def _tiny_model(num_classes, dtype=None):
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(num_classes, dtype=dtype, name="logits")]
    )
    return model


@pytest.mark.parametrize("dtype", [None, "mixed_float16"])
def test_compile_fit_evaluate_match_sklearn_on_predict(dtype):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    num_classes = 4
    x = rng.normal(size=(203, 6)).astype(np.float32)
    y = rng.integers(0, num_classes, 203)
    w = rng.uniform(0.2, 2.0, 203).astype(np.float32)
    model = _tiny_model(num_classes, dtype)
    metrics = [cls(num_classes) for cls in METRICS]
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=metrics,
        weighted_metrics=[METRICS[0](num_classes, name="weighted_balanced_accuracy")],
    )
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    logits = model.predict(x, batch_size=64, verbose=0)
    if dtype == "mixed_float16":
        assert logits.dtype == np.float16
    y_pred = logits.argmax(axis=1)
    results = model.evaluate(x, y, sample_weight=w, batch_size=50, verbose=0, return_dict=True)
    for metric in metrics:
        expected = REFERENCES[type(metric)](y, y_pred, None, num_classes)
        np.testing.assert_allclose(results[metric.name], expected, atol=2e-6, err_msg=metric.name)
    expected = REFERENCES[METRICS[0]](y, y_pred, w, num_classes)
    np.testing.assert_allclose(results["weighted_balanced_accuracy"], expected, atol=2e-6)


def test_compile_with_one_hot_targets():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = _tiny_model(3)
    metric = METRICS[0](3)
    model.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=[metric])
    y_pred = model.predict(x, verbose=0).argmax(axis=1)
    results = model.evaluate(x, np.eye(3)[y], verbose=0, return_dict=True)
    expected = REFERENCES[METRICS[0]](y, y_pred, None, 3)
    np.testing.assert_allclose(results[metric.name], expected, atol=2e-6)


def test_evaluate_returns_the_matrix():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model = _tiny_model(3)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[ConfusionMatrixMetric(3)],
    )
    y_pred = model.predict(x, verbose=0).argmax(axis=1)
    results = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_array_equal(
        results["confusion_matrix"], confusion_matrix(y, y_pred, labels=range(3))
    )


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL, ids=ALL_IDS)
def test_bad_num_classes(cls):
    with pytest.raises(ValueError, match=r"argument `num_classes`.*>= 2. Received: num_classes=1"):
        cls(1)
    with pytest.raises(TypeError, match=r"argument `num_classes`. Expected an integer"):
        cls(2.5)
    with pytest.raises(TypeError, match=r"num_classes=True"):
        cls(True)


@pytest.mark.parametrize("cls", ALL, ids=ALL_IDS)
def test_bad_shapes(cls):
    metric = cls(3)
    y, logits = np.array([0, 1, 2, 1]), np.zeros((4, 3), np.float32)
    with pytest.raises(
        ValueError,
        match=r"argument `y_true`. Expected integer labels of shape \(batch,\) or \(batch, 1\), "
        r"or one-hot / soft labels of shape \(batch, 3\).*Received: y_true with shape \(4, 4\)",
    ):
        metric.update_state(np.eye(4), logits)
    with pytest.raises(ValueError, match=r"argument `y_true`.*shape \(4, 1, 1\)"):
        metric.update_state(y[:, None, None], logits)
    with pytest.raises(
        ValueError,
        match=r"argument `y_pred`. Expected logits or probabilities of shape \(batch, 3\) for "
        r"num_classes=3. Received: y_pred with shape \(4, 4\)",
    ):
        metric.update_state(y, np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"argument `y_pred`.*Received: y_pred with shape \(4,\)"):
        metric.update_state(y, np.zeros(4))
    with pytest.raises(ValueError, match=r"same number of examples.*\(4,\).*\(5, 3\)"):
        metric.update_state(y, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"argument `sample_weight`.*shape \(4, 2\)"):
        metric.update_state(y, logits, sample_weight=np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"argument `sample_weight`. Expected one weight per"):
        metric.update_state(y, logits, sample_weight=np.ones(3))
    assert np.all(metric.confusion_matrix.numpy() == 0)  # nothing half-added


@pytest.mark.parametrize("cls", ALL, ids=ALL_IDS)
def test_bad_label_values_raise_in_eager_mode(cls):
    metric = cls(3)
    logits = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"`y_true`. Expected labels in \[0, 2\].*label 3"):
        metric.update_state([0, 1, 3], logits)
    with pytest.raises(ValueError, match=r"Expected labels in \[0, 2\].*Received: label -1"):
        metric.update_state(np.array([[0], [-1], [2]]), logits)
    with pytest.raises(ValueError, match=r"integer-valued labels. Received: \[0.5\]"):
        metric.update_state(np.array([0.0, 0.5, 2.0]), logits)
    with pytest.raises(ValueError, match=r"integer-valued labels. Received: \[nan\]"):
        metric.update_state(np.array([0.0, np.nan, 2.0]), logits)


def test_bad_class_counts():
    with pytest.raises(ValueError, match=r"argument `class_counts`. Expected 3 entries"):
        SmallestClassRecall(3, class_counts=[10, 5])
    with pytest.raises(ValueError, match=r"no examples for classes \[1\]"):
        SmallestClassRecall(3, class_counts=[10, 0, 4])
    with pytest.raises(TypeError, match=r"argument `class_counts`"):
        SmallestClassRecall(3, class_counts="abc")


# --- serialization --------------------------------------------------------------------------

EXAMPLES = {cls: {"num_classes": 3} for cls in ALL}
EXAMPLES[SmallestClassRecall] = {"num_classes": 3, "class_counts": [50, 4, 9]}


class SerializationTest(TestCase):
    def test_config_holds_constructor_args(self):
        for cls in ALL:
            metric = cls(**EXAMPLES[cls], name="custom", dtype="float64")
            config = metric.get_config()
            assert config == {**EXAMPLES[cls], "name": "custom", "dtype": "float64"}
            assert all(type(v) in (int, str, list) for v in config.values())
            self.run_serialization_test(metric)
        assert SmallestClassRecall(3).get_config()["class_counts"] is None
        self.run_serialization_test(SmallestClassRecall(3))

    def test_keras_file(self):
        for cls in ALL:
            loaded = self.run_keras_file_test(cls(**EXAMPLES[cls]), num_classes=3)
            assert loaded.num_classes == 3

    def test_exported(self):
        for cls in ALL:
            assert PUBLIC_API[f"kerasimb.metrics.{cls.__name__}"] is cls
            assert keras.saving.get_registered_object(f"kerasimb>{cls.__name__}") is cls


MODULES = [
    "confusion_matrix",
    "balanced_accuracy",
    "macro_f1",
    "matthews_correlation",
    "quadratic_kappa",
    "smallest_class_recall",
    "report",
]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module(f"kerasimb.metrics.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
