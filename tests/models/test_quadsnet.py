"""QuadSNet: shapes of every stream and block, the parameter count from the layer formulas,
grey/colour inputs, 2 and more classes, errors, serialization and mixed precision."""

import os

import keras
import numpy as np
import pytest

import kerasimb
from kerasimb import QuadSNet
from kerasimb.models import model_fn
from kerasimb.models.quadsnet import PAPER_PARAMETERS
from kerasimb.testing import TestCase

TINY = {"filters": (4, 8, 8, 16), "classifier_units": ()}


def formula_parameter_count(channels, filters, classifier_units, num_classes):
    """Trainable parameters written out from the layer formulas (independent of Keras):
    Conv2D k*k*cin*cout + cout, SeparableConv2D k*k*cin + cin*cout + cout, BN 2*c (gamma, beta),
    Dense din*dout + dout."""
    total = 0
    for kernel, separable in ((3, False), (5, False), (3, True), (5, True)):
        cin = channels
        for cout in filters:
            if separable:
                total += kernel * kernel * cin + cin * cout + cout
            else:
                total += kernel * kernel * cin * cout + cout
            total += 2 * cout
            cin = cout
    din = 4 * filters[-1]
    for units in classifier_units:
        total += din * units + units
        din = units
    return total + din * num_classes + num_classes


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


class QuadSNetTest(TestCase):
    def test_every_stream_and_block_shape(self):
        model = QuadSNet((28, 28, 1), 2, **TINY)
        sizes = [14, 7, 3, 1]  # 'same' convolutions, 2x2 max-pooling after each
        for stream in ("cs1", "cs2", "ss1", "ss2"):
            for b, (size, filters) in enumerate(zip(sizes, TINY["filters"])):
                layer = model.get_layer(f"{stream}_block{b + 1}")
                self.assertEqual(tuple(layer.output.shape), (None, size, size, filters))
                self.assertEqual(layer.separable, stream.startswith("ss"))
                self.assertEqual(layer.kernel_size, 3 if stream.endswith("1") else 5)
                self.assertEqual(layer.momentum, 0.99)
                self.assertEqual(layer.epsilon, 1e-4)
                self.assertEqual(layer.dropout, 0.3)
        self.assertEqual(tuple(model.get_layer("f_cs").output.shape), (None, 1, 1, 32))
        self.assertEqual(tuple(model.get_layer("f_ss").output.shape), (None, 1, 1, 32))
        self.assertEqual(tuple(model.get_layer("f_total").output.shape), (None, 1, 1, 64))
        self.assertEqual(model.get_layer("head_dropout").rate, 0.3)
        self.assertEqual(tuple(model.output.shape), (None, 2))

    def test_fusion_order_is_cs_then_ss(self):
        model = QuadSNet((16, 16, 1), 2, **TINY)
        inputs = [n.operation.name for n in model.get_layer("f_total")._inbound_nodes[0].parent_nodes]
        self.assertEqual(inputs, ["f_cs", "f_ss"])
        cs = [n.operation.name for n in model.get_layer("f_cs")._inbound_nodes[0].parent_nodes]
        self.assertEqual(cs, ["cs1_block4", "cs2_block4"])

    def test_parameter_count_matches_layer_formulas(self):
        for channels, num_classes, units in ((1, 2, ()), (3, 5, (7,)), (3, 2, (6, 5))):
            model = QuadSNet((32, 32, channels), num_classes, filters=(3, 4, 6, 8),
                             classifier_units=units)
            expected = formula_parameter_count(channels, (3, 4, 6, 8), units, num_classes)
            self.assertEqual(trainable_count(model), expected)

    def test_default_parameter_count_beside_paper(self):
        # The default configuration, counted from the formulas, and by Keras.
        expected = formula_parameter_count(3, (56, 112, 224, 448), (256,), 2)
        self.assertEqual(expected, 5_230_712)
        self.assertLess(abs(expected - PAPER_PARAMETERS) / PAPER_PARAMETERS, 0.002)
        self.assertEqual(trainable_count(QuadSNet((32, 32, 3), 2)), expected)

    def test_grey_colour_and_classes(self):
        for shape, classes in (((28, 28, 1), 2), ((32, 40, 3), 7)):
            model = QuadSNet(shape, classes, **TINY)
            x = np.random.default_rng(0).random((3, *shape)).astype("float32")
            y = model.predict(x, verbose=0)
            self.assertEqual(y.shape, (3, classes))
            self.assertTrue(np.all(np.isfinite(y)))

    def test_train_step_reduces_loss(self):
        rng = np.random.default_rng(0)
        x = rng.random((16, 16, 16, 1)).astype("float32")
        y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int32")
        model = QuadSNet((16, 16, 1), 2, block_dropout=0.0, dropout=0.0, **TINY)
        model.compile(keras.optimizers.Adam(1e-2),
                      kerasimb.losses.MarginLoss(class_counts=[8, 8]))
        history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
        self.assertLess(history.history["loss"][-1], history.history["loss"][0])

    def test_activation_after_bn(self):
        model = QuadSNet((16, 16, 1), 2, activation="elu", activation_after_bn=True, **TINY)
        block = model.get_layer("ss2_block1")
        self.assertTrue(block.activation_after_bn)
        self.assertEqual(block.activation, "elu")
        self.assertEqual(QuadSNet.from_config(model.get_config()).activation, "elu")

    def test_errors(self):
        with pytest.raises(ValueError, match="at least 16 for 4 blocks"):
            QuadSNet((15, 15, 1), 2)
        with pytest.raises(ValueError, match="num_classes"):
            QuadSNet((28, 28, 1), 1)
        with pytest.raises(ValueError, match="filters"):
            QuadSNet((28, 28, 1), 2, filters=())
        with pytest.raises(ValueError, match="filters"):
            QuadSNet((28, 28, 1), 2, filters=(8, 0))
        with pytest.raises(ValueError, match="activation"):
            QuadSNet((28, 28, 1), 2, activation="nope")
        with pytest.raises(ValueError, match="dropout"):
            QuadSNet((28, 28, 1), 2, dropout=1.0)
        with pytest.raises(TypeError, match="input_shape"):
            QuadSNet(28, 2)

    def test_serialization_and_keras_file(self):
        model = QuadSNet((16, 16, 1), 3, seed=1, **TINY)
        self.run_serialization_test(model)
        loaded = self.run_keras_file_test(model)
        x = np.random.default_rng(0).random((2, 16, 16, 1)).astype("float32")
        self.assertAllClose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)

    def test_mixed_precision_logits_are_float32(self):
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            model = QuadSNet((16, 16, 1), 2, **TINY)
            self.assertEqual(model.get_layer("cs1_block1").compute_dtype, "bfloat16")
            y = model(np.zeros((2, 16, 16, 1), "float32"))
            self.assertEqual(keras.backend.standardize_dtype(y.dtype), "float32")
        finally:
            keras.config.set_dtype_policy(previous)

    def test_model_fn_quadsnet(self):
        make = model_fn("QuadSNet", filters=(4, 4, 4, 4), classifier_units=())
        self.assertEqual(repr(make), "model_fn('quadsnet', filters=(4, 4, 4, 4), classifier_units=())")
        self.assertIsInstance(make((28, 28, 1), 2), QuadSNet)
        with pytest.raises(TypeError, match="width"):
            model_fn("quadsnet", width=8)

    def test_top_level_import(self):
        self.assertIs(kerasimb.QuadSNet, kerasimb.models.QuadSNet)
        self.assertIn("QuadSNet", kerasimb.__all__)
