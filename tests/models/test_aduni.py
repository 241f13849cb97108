import os
import tempfile

import keras
import numpy as np
import pytest

from kerasimb.callbacks import AlphaSchedule
from kerasimb.data import two_view_dataset
from kerasimb.losses import unified_contrastive_loss
from kerasimb.models import AdUni, SmallCNN, feature_extractor
from kerasimb.testing import TestCase


def tiny_model(**kwargs):
    encoder = feature_extractor(SmallCNN((8, 8, 1), 3, width=4, depth=1))
    return AdUni(encoder, 3, class_counts=[10, 4, 2], projection_dim=4, **kwargs)


def tiny_data(n=16):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1)).astype("float32"), np.arange(n) % 3


class AdUniTest(TestCase):
    def test_loss_is_the_unified_loss_of_the_two_views(self):
        model = tiny_model(alpha=0.5)
        x, y = tiny_data(6)
        v1, v2 = x, x[:, ::-1]
        loss, logits, keys = model._forward((v1, v2), keras.utils.to_categorical(y, 3),
                                            training=False)
        assert keys is None  # no queue
        h = model.encoder(np.concatenate([v1, v2]), training=False)
        g = model.classifier(h)
        p = np.asarray(model.projection(h))
        features = np.stack([p[:6], p[6:]], axis=1)
        want = unified_contrastive_loss(y, features, g, [10, 4, 2], 0.5)
        self.assertAllClose(loss, want, rtol=1e-5)
        self.assertAllClose(logits, model.predict(v1, verbose=0), rtol=1e-5, atol=1e-6)

    def test_fit_with_schedule_changes_alpha_and_weights(self):
        model = tiny_model()
        model.compile(keras.optimizers.Adam(1e-2), metrics=["accuracy"])
        x, y = tiny_data()
        before = [w.copy() for w in model.get_weights()]
        schedule = AlphaSchedule(1.0, 0.01, total_epochs=2, mode="cosine")
        history = model.fit(two_view_dataset(x, y, 8, seed=0), epochs=2, steps_per_epoch=2,
                            validation_data=(x, keras.utils.to_categorical(y, 3)),
                            callbacks=[schedule], verbose=0)
        self.assertAllClose(history.history["alpha"], [1.0, 0.01])
        self.assertAllClose(model.unified_loss.alpha, 0.01)
        self.assertTrue(all(np.isfinite(history.history["loss"])))
        self.assertIn("val_loss", history.history)
        changed = [not np.allclose(a, b) for a, b in zip(before, model.get_weights())]
        self.assertTrue(any(changed))
        self.assertEqual(model.predict(x, verbose=0).shape, (16, 3))

    def test_keras_file_round_trip(self):
        model = tiny_model(alpha=0.3, temperature=0.2)
        x, _ = tiny_data(4)
        expected = model.predict(x, verbose=0)
        path = os.path.join(tempfile.mkdtemp(), "aduni.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertIsInstance(restored, AdUni)
        self.assertAllClose(restored.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
        self.assertEqual(restored.get_config()["temperature"], 0.2)
        self.assertEqual(restored.class_counts, [10, 4, 2])

    def test_errors(self):
        encoder = feature_extractor(SmallCNN((8, 8, 1), 3, width=4, depth=1))
        with pytest.raises(TypeError, match="argument `encoder`"):
            AdUni("resnet", 3)
        with pytest.raises(ValueError, match="argument `encoder`"):
            AdUni(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)]), 3)
        with pytest.raises(ValueError, match="class_counts"):
            AdUni(encoder, 3, class_counts=[5, 2])
        with pytest.raises(ValueError, match="argument `alpha`"):
            AdUni(encoder, 3, alpha=-1.0)
        model = AdUni(encoder, 3)
        with pytest.raises(ValueError, match="two views"):
            model._views((1, 2, 3))
