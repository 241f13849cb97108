import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import softmax

from kerasimb import metrics
from kerasimb.inference import (
    PerturbedPredictor,
    perturb_inputs,
    perturbation_target,
    select_epsilon,
    sweep,
)
from kerasimb.testing import TestCase

COUNTS = [60, 12, 3]


def linear_model(shape=(4, 4, 1), num_classes=3, seed=0, activation=None):
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(),
                              keras.layers.Dense(num_classes, activation=activation)])
    w = rng.normal(size=(int(np.prod(shape)), num_classes))
    b = rng.normal(size=num_classes)
    model.set_weights([w, b])
    return model, w, b


def numpy_target(counts):
    counts = np.asarray(counts, dtype=np.float64)
    g = np.log(counts.max() / counts)
    return g / g.sum()


def numpy_dloss_dz(z, target, temperature, loss="ce", gamma=2.0):
    """Gradient of the per-sample loss with respect to the logits z (float64)."""
    if loss == "ce":  # d/dz CE(softmax(z/T), p*) = (softmax(z/T) − p*) / T   (Σ p* = 1)
        return (softmax(z / temperature, axis=-1) - target) / temperature
    if loss == "mse":  # J^T 2(p − p*) / T with J = diag(p) − p p^T
        p = softmax(z / temperature, axis=-1)
        v = 2.0 * (p - target)
        return (p * v - p * np.sum(p * v, axis=-1, keepdims=True)) / temperature

    def focal(zz):  # central differences of the focal loss, per sample
        p = softmax(zz / temperature, axis=-1)
        return -np.sum(target * (1 - p) ** gamma * np.log(p), axis=-1)

    grad = np.zeros_like(z)
    h = 1e-4
    for c in range(z.shape[1]):
        step = np.zeros_like(z)
        step[:, c] = h
        grad[:, c] = (focal(z + step) - focal(z - step)) / (2 * h)
    return grad


def numpy_perturb(x, w, b, counts, epsilon, temperature, loss="ce"):
    flat = x.reshape(len(x), -1).astype(np.float64)
    z = flat @ w + b
    grad = numpy_dloss_dz(z, numpy_target(counts), temperature, loss) @ w.T  # dz/dx = W
    x_new = flat - epsilon * np.sign(grad)
    return x_new.reshape(x.shape), x_new @ w + b, grad.reshape(x.shape)


class TargetTest(TestCase):
    def test_matches_formula(self):
        self.assertAllClose(perturbation_target(COUNTS), numpy_target(COUNTS))
        self.assertAllClose(perturbation_target([10, 10, 2])[:2], [0.0, 0.0])

    def test_balanced_raises_or_uniform(self):
        with pytest.raises(ValueError, match="0/0"):
            perturbation_target([5, 5, 5])
        self.assertAllClose(perturbation_target([5, 5], on_balanced="uniform"), [0.5, 0.5])

    def test_zero_count_raises(self):
        with pytest.raises(ValueError, match="infinite for n = 0"):
            perturbation_target([10, 0, 3])


class ClosedFormTest(TestCase):
    @pytest.mark.filterwarnings("ignore")
    def test_linear_model_matches_numpy(self):
        rng = np.random.default_rng(1)
        x = rng.uniform(size=(7, 4, 4, 1)).astype("float32")
        model, w, b = linear_model()
        for loss in ("ce", "mse", "focal"):
            for temperature in (1000.0, 3.0):
                predictor = PerturbedPredictor(model, COUNTS, epsilon=0.01, temperature=temperature,
                                               loss=loss, batch_size=3)
                x_new, z_new, grad = numpy_perturb(x, w, b, COUNTS, 0.01, temperature, loss)
                got = predictor.perturb(x)
                clear = np.abs(grad) > 1e-6 * np.abs(grad).max()  # sign unambiguous in float32
                np.testing.assert_allclose(got[clear], x_new[clear], atol=1e-6, err_msg=loss)
                self.assertGreater(clear.mean(), 0.9)
                self.assertAllClose(predictor.predict(x), z_new, atol=1e-5)

    def test_epsilon_zero_changes_nothing(self):
        model, _, _ = linear_model()
        x = np.random.default_rng(2).uniform(size=(5, 4, 4, 1)).astype("float32")
        predictor = PerturbedPredictor(model, COUNTS, epsilon=0.0)
        np.testing.assert_array_equal(predictor.perturb(x), x)
        self.assertAllClose(predictor.predict(x), model.predict(x, verbose=0), atol=1e-6)

    def test_moves_toward_minority_on_biased_model(self):
        model, w, b = linear_model(seed=3)
        model.set_weights([w * 0.2, np.array([2.0, 0.0, 0.0])])  # strongly favours class 0
        x = np.random.default_rng(3).uniform(size=(50, 4, 4, 1)).astype("float32")
        before = softmax(model.predict(x, verbose=0), axis=-1)
        after = softmax(PerturbedPredictor(model, COUNTS, epsilon=0.5).predict(x), axis=-1)
        self.assertTrue(np.all(after[:, 2] > before[:, 2]))  # the rarest class gains everywhere
        self.assertTrue(np.all(after[:, 0] < before[:, 0]))  # the largest (p* = 0) loses
        self.assertGreater(np.sum(after.argmax(-1) != 0), np.sum(before.argmax(-1) != 0))

    def test_binary_step_does_not_depend_on_temperature(self):
        model, w, b = linear_model(num_classes=2, seed=4)
        x = np.random.default_rng(4).uniform(size=(6, 4, 4, 1)).astype("float32")
        steps = [PerturbedPredictor(model, [50, 5], epsilon=0.1, temperature=t).perturb(x)
                 for t in (0.5, 1000.0)]
        np.testing.assert_array_equal(steps[0], steps[1])
        margin = np.sign(w[:, 1] - w[:, 0]).reshape(1, 4, 4, 1)  # ∇ₓ(z_minority − z_majority)
        self.assertAllClose(steps[1], x + 0.1 * margin)

    def test_clip(self):
        model, _, _ = linear_model()
        x = np.random.default_rng(4).uniform(size=(5, 4, 4, 1)).astype("float32")
        out = PerturbedPredictor(model, COUNTS, epsilon=0.5, clip=(0.0, 1.0)).perturb(x)
        self.assertTrue(out.min() >= 0.0 and out.max() <= 1.0)
        free = PerturbedPredictor(model, COUNTS, epsilon=0.5).perturb(x)
        self.assertAllClose(out, np.clip(free, 0.0, 1.0))

    def test_perturb_inputs_and_dataset_input(self):
        model, w, b = linear_model()
        x = np.random.default_rng(5).uniform(size=(6, 4, 4, 1)).astype("float32")
        expected = PerturbedPredictor(model, COUNTS).perturb(x)
        self.assertAllClose(perturb_inputs(model, x, COUNTS), expected)
        ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(6))).batch(4)
        self.assertAllClose(PerturbedPredictor(model, COUNTS).perturb(ds), expected)
        self.assertEqual(PerturbedPredictor(model, COUNTS).predict(ds).shape, (6, 3))


class InferenceModeTest(TestCase):
    def test_batchnorm_statistics_untouched_and_inference_mode(self):
        inputs = keras.Input((4, 4, 1))
        h = keras.layers.Conv2D(3, 3, padding="same")(inputs)
        h = keras.layers.BatchNormalization(momentum=0.5)(h)
        h = keras.layers.Dropout(0.5)(keras.layers.GlobalAveragePooling2D()(h))
        model = keras.Model(inputs, keras.layers.Dense(3)(h))
        bn = model.layers[2]
        bn.moving_mean.assign([0.3, -0.2, 0.1])
        bn.moving_variance.assign([2.0, 0.5, 1.5])
        before = [v.numpy().copy() for v in model.weights]
        x = np.random.default_rng(6).uniform(size=(9, 4, 4, 1)).astype("float32") * 5
        predictor = PerturbedPredictor(model, COUNTS, epsilon=0.0, batch_size=4)
        out = predictor.predict(x)
        predictor.perturb(x, epsilon=0.1)
        for b, a in zip(before, model.weights):
            np.testing.assert_array_equal(b, a.numpy())
        self.assertAllClose(out, model(x, training=False).numpy(), atol=1e-5)  # Dropout off
        self.assertAllClose(predictor.predict(x, epsilon=0.1), predictor.predict(x, epsilon=0.1))


class SoftmaxModelTest(TestCase):
    def test_final_softmax_is_detected(self):
        x = np.random.default_rng(7).uniform(size=(5, 4, 4, 1)).astype("float32")
        logits_model, w, b = linear_model()
        expected = PerturbedPredictor(logits_model, COUNTS, epsilon=0.01).perturb(x)
        dense_softmax, _, _ = linear_model(activation="softmax")
        softmax_layer = keras.Sequential([logits_model, keras.layers.Softmax()])
        for model in (dense_softmax, softmax_layer):
            predictor = PerturbedPredictor(model, COUNTS, epsilon=0.01)
            self.assertTrue(predictor.final_softmax)
            self.assertAllClose(predictor.perturb(x), expected)
            probs = predictor.predict(x)
            self.assertAllClose(probs, model.predict(expected, verbose=0), atol=1e-6)
        self.assertEqual(dense_softmax.layers[-1].activation, keras.activations.softmax)

    def test_undetected_probabilities_raise_unless_declared(self):
        logits_model, _, _ = linear_model()
        inputs = keras.Input((4, 4, 1))
        probs_model = keras.Model(inputs, keras.ops.softmax(logits_model(inputs)))
        x = np.random.default_rng(8).uniform(size=(4, 4, 4, 1)).astype("float32")
        with pytest.raises(ValueError, match="look like probabilities"):
            PerturbedPredictor(probs_model, COUNTS).perturb(x)
        declared = PerturbedPredictor(probs_model, COUNTS, outputs="probabilities", epsilon=0.01)
        expected = PerturbedPredictor(logits_model, COUNTS, epsilon=0.01).perturb(x)
        self.assertAllClose(declared.perturb(x), expected)

    def test_sigmoid_refused(self):
        model, _, _ = linear_model(activation="sigmoid")
        with pytest.raises(ValueError, match="sigmoid"):
            PerturbedPredictor(model, COUNTS)


class FlipsAndSelectionTest(TestCase):
    def test_flips_average_perturbed_views(self):
        model, _, _ = linear_model()
        x = np.random.default_rng(9).uniform(size=(5, 4, 4, 1)).astype("float32")
        plain = PerturbedPredictor(model, COUNTS, epsilon=0.01)
        both = PerturbedPredictor(model, COUNTS, epsilon=0.01, flips=("horizontal", "vertical"))
        views = [plain.predict(v) for v in (x, x[:, :, ::-1], x[:, ::-1])]
        expected = np.mean([softmax(v, axis=-1) for v in views], axis=0)
        self.assertAllClose(softmax(both.predict(x), axis=-1), expected, atol=1e-5)
        probs_model = keras.Sequential([model, keras.layers.Softmax()])
        probs = PerturbedPredictor(probs_model, COUNTS, epsilon=0.01, flips=("horizontal", "vertical"))
        self.assertAllClose(probs.predict(x), expected, atol=1e-5)

    def test_sweep_and_select_epsilon(self):
        model, _, _ = linear_model(seed=3)
        x = np.random.default_rng(10).uniform(size=(40, 4, 4, 1)).astype("float32")
        y = np.arange(40) % 3
        grid = [0.0, 0.01, 0.1]
        predictor = PerturbedPredictor(model, COUNTS)
        rows = sweep(model, x, y, COUNTS, epsilons=grid, temperatures=(1000.0, 10.0))
        self.assertEqual(len(rows), 6)
        for row in rows:
            out = predictor.predict(x, epsilon=row["epsilon"], temperature=row["temperature"])
            rep = metrics.report(y, softmax(out, axis=-1), class_counts=COUNTS)
            self.assertAlmostEqual(row["balanced_accuracy"], rep["balanced_accuracy"])
            self.assertAlmostEqual(row["smallest_class_recall"], rep["smallest_class_recall"])
        best, scores = select_epsilon(model, x, y, COUNTS, grid=grid)
        self.assertEqual(sorted(scores), grid)
        self.assertEqual(scores[best], max(scores.values()))
        with pytest.raises(ValueError, match="metric"):
            select_epsilon(model, x, y, COUNTS, grid=grid, metric="nope")


class ErrorTest(TestCase):
    def test_errors(self):
        model, _, _ = linear_model()
        x = np.zeros((2, 4, 4, 1), "float32")
        with pytest.raises(ValueError, match="0/0"):
            PerturbedPredictor(model, [7, 7, 7])
        self.assertEqual(PerturbedPredictor(model, [7, 7, 7], on_balanced="uniform").target.sum(), 1)
        with pytest.raises(ValueError, match="at least one example"):
            PerturbedPredictor(model, [7, 0, 3])
        with pytest.raises(ValueError, match="one count per model output"):
            PerturbedPredictor(model, [7, 3])
        with pytest.raises(ValueError, match="Received: epsilon=-0.1"):
            PerturbedPredictor(model, COUNTS, epsilon=-0.1)
        with pytest.raises(ValueError, match="Received: temperature=0.0"):
            PerturbedPredictor(model, COUNTS, temperature=0)
        with pytest.raises(ValueError, match="Received: loss='hinge'"):
            PerturbedPredictor(model, COUNTS, loss="hinge")
        with pytest.raises(ValueError, match="clip"):
            PerturbedPredictor(model, COUNTS, clip=(1.0, 0.0))
        with pytest.raises(ValueError, match="flips"):
            PerturbedPredictor(model, COUNTS, flips="diagonal")
        with pytest.raises(TypeError, match=r"x / 255.0.*dtype uint8"):
            perturb_inputs(model, x.astype("uint8"), COUNTS)
        with pytest.raises(TypeError, match="dtype int64"):
            perturb_inputs(model, x.astype("int64"), COUNTS)
        with pytest.raises(ValueError, match="finite"):
            perturb_inputs(model, x + np.nan, COUNTS)
        with pytest.raises(ValueError, match="Received: epsilon=-1.0"):
            PerturbedPredictor(model, COUNTS).predict(x, epsilon=-1.0)
