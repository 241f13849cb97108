import os
import sys

import keras
import numpy as np
import pytest
import scipy.special

from kerasimb.models import SmallCNN, TwoStageClassifier, build_backbone, feature_extractor
from kerasimb.testing import TestCase

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "losses"))
import metric_loss_references as ref  # noqa: E402

NUM_CLASSES = 3


def _backbone(seed=0):
    keras.utils.set_random_seed(seed)
    return feature_extractor(SmallCNN((8, 8, 1), NUM_CLASSES, width=4, depth=2, dropout=0.0))


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % NUM_CLASSES
    x = (rng.random((n, 8, 8, 1)) * 0.3 + y[:, None, None, None] * 0.3).astype("float32")
    return x, y


def _compiled(metric_loss, **kwargs):
    model = TwoStageClassifier(_backbone(), NUM_CLASSES, metric_loss=metric_loss, **kwargs)
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def _numpy_ce(logits, y):
    return float(np.mean(-np.log(scipy.special.softmax(logits, axis=1)[np.arange(len(y)), y])))


class TwoStageClassifierTest(TestCase):
    def test_loss_is_ce_plus_weighted_metric_loss(self):
        x, y = _data()
        one_hot = np.eye(NUM_CLASSES)[y]
        for metric_loss in ("center", "triplet", "supcon", None):
            model = _compiled(metric_loss, metric_weight=0.5, triplet_margin=1.0,
                              temperature=0.5)
            if metric_loss == "center":
                model.centers.assign(np.random.default_rng(1).normal(size=model.centers.shape))
            logs = model.evaluate(x, one_hot, batch_size=len(y), verbose=0, return_dict=True)
            features = model.extract_features(x).astype("float64")
            ce = _numpy_ce(model.predict(x, verbose=0), y)
            if metric_loss == "center":
                metric = ref.center_loss(y, features, model.centers.numpy())
            elif metric_loss == "triplet":
                metric = ref.triplet_batch_hard(list(y), features, 1.0, "euclidean")
            elif metric_loss == "supcon":
                metric = ref.supcon(list(y), np.asarray(model.projection(features)), 0.5)
            else:
                metric = 0.0
            self.assertAllClose(logs["ce_loss"], ce, rtol=1e-4, msg=str(metric_loss))
            self.assertAllClose(logs["metric_loss"], metric, rtol=1e-4, atol=1e-5,
                                msg=str(metric_loss))
            self.assertAllClose(logs["loss"], ce + (0.5 if metric_loss else 0.0) * metric,
                                rtol=1e-4, atol=1e-5, msg=str(metric_loss))

    def test_default_metric_weights_are_the_papers(self):
        bb = _backbone()
        self.assertEqual(TwoStageClassifier(bb, 3, metric_loss="center").metric_weight, 0.001)
        self.assertEqual(TwoStageClassifier(bb, 3, metric_loss="triplet").metric_weight, 0.001)
        self.assertEqual(TwoStageClassifier(bb, 3, metric_loss="supcon").metric_weight, 1.0)

    def test_wen_center_update_after_one_step(self):
        x, y = _data()
        model = _compiled("center")
        self.assertNotIn(model.centers.path, [v.path for v in model.trainable_variables])
        features = np.asarray(model.backbone(x, training=True), "float64")  # pre-step features
        model.fit(x, np.eye(NUM_CLASSES)[y], batch_size=len(y), epochs=1, verbose=0)
        expected = ref.center_update(list(y), features, np.zeros(model.centers.shape), 0.5)
        self.assertAllClose(model.centers.numpy(), expected, rtol=1e-4, atol=1e-5)

    def test_gradient_center_update_trains_centers(self):
        x, y = _data()
        model = _compiled("center", center_update="gradient", metric_weight=1.0)
        self.assertIn(model.centers.path, [v.path for v in model.trainable_variables])
        model.fit(x, np.eye(NUM_CLASSES)[y], batch_size=len(y), epochs=2, verbose=0)
        self.assertGreater(np.abs(model.centers.numpy()).max(), 0.0)

    def test_metric_loss_alone_leaves_the_head_untouched(self):
        x, y = _data()
        model = _compiled("supcon", ce_weight=0.0)
        kernel = model.classifier.kernel.numpy().copy()
        conv = model.backbone.weights[0].numpy().copy()
        model.fit(x, np.eye(NUM_CLASSES)[y], batch_size=6, epochs=1, verbose=0)
        np.testing.assert_array_equal(model.classifier.kernel.numpy(), kernel)
        self.assertFalse(np.array_equal(model.backbone.weights[0].numpy(), conv))

    def test_stage2_changes_only_the_head(self):
        x, y = _data(18)
        for metric_loss, method in (("center", "reweight"), ("supcon", "resample")):
            if True:
                model = _compiled(metric_loss)
                model.fit(x, np.eye(NUM_CLASSES)[y], batch_size=6, epochs=1, verbose=0)
                head_ids = {id(v) for v in model.classifier.weights}
                frozen = {v.path: v.numpy().copy() for v in model.weights
                          if id(v) not in head_ids}
                head = [v.numpy().copy() for v in model.classifier.weights]
                history = model.retrain_classifier(x, y, method=method, epochs=2, batch_size=4,
                                                   validation_data=(x, y))
                self.assertIn("val_loss", history.history)
                for v in model.weights:
                    if id(v) not in head_ids:  # backbone incl. BatchNorm statistics, centres, projection
                        np.testing.assert_array_equal(v.numpy(), frozen[v.path], err_msg=v.path)
                self.assertFalse(np.array_equal(model.classifier.kernel.numpy(), head[0]))
                self.assertTrue(any("moving_mean" in p for p in frozen))

    def test_reweighting_and_resampling_favour_the_rare_class(self):
        rng = np.random.default_rng(0)
        y = np.array([0] * 40 + [1] * 4)
        x = rng.random((44, 8, 8, 1)).astype("float32")  # features carry no label signal
        for method in ("reweight", "resample"):
            model = TwoStageClassifier(feature_extractor(SmallCNN((8, 8, 1), 2, width=4, depth=2)), 2)
            model.classifier.kernel.assign(np.zeros_like(model.classifier.kernel))
            history = model.retrain_classifier(x, y, method=method, epochs=30, batch_size=44,
                                               learning_rate=0.05)
            self.assertTrue(np.all(np.isfinite(history.history["loss"])))
            # With balanced weight or sampling, the rare class gets about half the mass.
            prob = scipy.special.softmax(model.predict(x, verbose=0), axis=1)[:, 1].mean()
            self.assertGreater(prob, 0.3, method)

    def test_keras_file_round_trip_predictions_match(self):
        x, y = _data()
        for metric_loss in ("center", "supcon"):
            model = _compiled(metric_loss, dropout=0.1)
            model.fit(x, np.eye(NUM_CLASSES)[y], batch_size=12, epochs=1, verbose=0)
            self.run_serialization_test(model)
            loaded = self.run_keras_file_test(model)
            self.assertAllClose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                                atol=1e-6)
            self.assertEqual(loaded.metric_loss, metric_loss)
        for metric_loss in ("triplet", None):
            revived = self.run_serialization_test(_compiled(metric_loss, triplet_margin=2.0))
            self.assertEqual(revived.metric_loss, metric_loss)

    def test_errors(self):
        bb = _backbone()
        with pytest.raises(ValueError, match="Received: metric_loss='arcface'"):
            TwoStageClassifier(bb, 3, metric_loss="arcface")
        with pytest.raises(TypeError, match="backbone"):
            TwoStageClassifier("resnet", 3)
        maps = keras.Model(bb.inputs, bb.get_layer("block2_pool").output)
        with pytest.raises(ValueError, match="feature vector"):
            TwoStageClassifier(maps, 3)
        with pytest.raises(ValueError, match="Received: metric_weight=-1.0"):
            TwoStageClassifier(bb, 3, metric_loss="center", metric_weight=-1.0)
        model = TwoStageClassifier(bb, 3)
        x, y = _data()
        with pytest.raises(ValueError, match="Received: method='oversample'"):
            model.retrain_classifier(x, y, method="oversample")
        with pytest.raises(ValueError, match="class_counts"):
            model.retrain_classifier(x[y < 2], y[y < 2])


@pytest.mark.slow
def test_with_keras_applications_backbone():
    x, y = np.random.default_rng(0).random((8, 32, 32, 1)).astype("float32"), np.arange(8) % 2
    model = TwoStageClassifier(build_backbone("mobilenetv2", (32, 32, 1)), 2, metric_loss="supcon")
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(x, np.eye(2)[y], epochs=1, verbose=0)
    model.retrain_classifier(x, y, epochs=1)
    assert model.predict(x, verbose=0).shape == (8, 2)
