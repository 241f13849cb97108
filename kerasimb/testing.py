"""Test helpers shared by kerasimb's test suite and by contributors' own tests.

`TestCase` is a `unittest.TestCase` (runs under pytest) with numeric assertions and two
serialization checks that every public Keras object must pass:

- `run_serialization_test(obj)`: `get_config` -> `from_config` -> `get_config` gives the same JSON,
  and `keras.saving.serialize_keras_object` / `deserialize_keras_object` revive the same class
  without `custom_objects` (so the object is registered).
- `run_keras_file_test(obj)`: the object survives a `.keras` file: a layer or model is saved
  directly; a loss or metric is saved as part of a compiled one-layer model.
"""

import json
import os
import tempfile
import unittest

import keras
import numpy as np


def _to_json(config):
    return json.dumps(config, sort_keys=True, default=str)


class TestCase(unittest.TestCase):
    """Base class for kerasimb tests."""

    def setUp(self):
        super().setUp()
        keras.utils.set_random_seed(0)

    def assertAllClose(self, actual, desired, atol=1e-6, rtol=1e-6, msg=""):
        np.testing.assert_allclose(
            np.asarray(actual, dtype=np.float64),
            np.asarray(desired, dtype=np.float64),
            atol=atol,
            rtol=rtol,
            err_msg=msg,
        )

    def run_serialization_test(self, instance):
        """Checks the config and registry round trips; returns the revived instance."""
        cls = type(instance)
        config = instance.get_config()
        revived = cls.from_config(config)
        self.assertIs(type(revived), cls)
        self.assertEqual(_to_json(config), _to_json(revived.get_config()))

        serialized = keras.saving.serialize_keras_object(instance)
        self.assertEqual(serialized["registered_name"], f"kerasimb>{cls.__name__}")
        revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
        self.assertIs(type(revived), cls)
        self.assertEqual(_to_json(config), _to_json(revived.get_config()))
        return revived

    def run_keras_file_test(self, instance, input_shape=(4,), num_classes=3):
        """Saves `instance` in a `.keras` file, loads it back and compares configs."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "object.keras")
            if isinstance(instance, keras.Model):
                instance.save(path)
                loaded = keras.saving.load_model(path)
                self.assertIs(type(loaded), type(instance))
                self.assertEqual(_to_json(instance.get_config()), _to_json(loaded.get_config()))
                for a, b in zip(instance.weights, loaded.weights):
                    self.assertAllClose(a, b)
                return loaded
            if isinstance(instance, keras.layers.Layer):
                inputs = keras.Input(input_shape)
                model = keras.Model(inputs, instance(inputs))
                model.save(path)
                loaded = keras.saving.load_model(path).layers[-1]
            else:
                model = keras.Sequential([keras.Input(input_shape), keras.layers.Dense(num_classes)])
                is_loss = isinstance(instance, keras.losses.Loss)
                model.compile(
                    optimizer="sgd",
                    loss=instance if is_loss else "sparse_categorical_crossentropy",
                    metrics=[] if is_loss else [instance],
                )
                model.save(path)
                reloaded = keras.saving.load_model(path)
                if is_loss:
                    loaded = reloaded.loss
                else:
                    # Compiled metrics are rebuilt lazily; take them from the saved compile config.
                    loaded = keras.saving.deserialize_keras_object(
                        reloaded.get_compile_config()["metrics"][0]
                    )
            self.assertIs(type(loaded), type(instance))
            self.assertEqual(_to_json(instance.get_config()), _to_json(loaded.get_config()))
            return loaded
