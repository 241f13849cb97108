"""`InferenceModel`: a trained network with everything its predictions need, in one `.keras`
file: class names, input size and scaling, and the method's own output transform (a logit
scale such as LDAM's, a temperature, the perturbation of Chen et al. with its ε, T and target).

`kerasimb train` saves one; `kerasimb evaluate` and `kerasimb predict` load it with
`keras.models.load_model(path, safe_mode=True)` (after `import kerasimb`).
"""

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.inference.perturbation import PerturbedPredictor
from kerasimb.inference.temperature import apply_temperature
from kerasimb.utils.images import to_float_images
from kerasimb.utils.validation import check_class_counts, check_float

__all__ = ["InferenceModel"]

_PERTURBATION_KEYS = ("epsilon", "temperature", "loss", "flips")


@kerasimb_export("kerasimb.inference.InferenceModel")
class InferenceModel(keras.Model):
    """A trained network and what its predictions need, saved and loaded as one `.keras` file.

    `model(images)` (and `model.predict`) return class probabilities
    `softmax(logit_scale · network(images) / temperature)` for float images in [0, 1] (`predict`
    also takes uint8 images, divided by 255 as the training pipelines did). With a
    `perturbation` (a `+perturb` method), `predict` first moves the images as
    `inference.PerturbedPredictor(network, class_counts, **perturbation)` does, exactly as the
    method's own `predict` did when it was scored; calling the model directly (`model(x)`) skips
    the perturbation, which needs input gradients.

    Args:
        network: the trained `keras.Model`, taking float images `(B, H, W, C)` in [0, 1] and
            returning logits (or LDAM's cosines, with `logit_scale`).
        image_shape: `(H, W, C)` of the images the network takes.
        class_names: list of str, one per output.
        class_counts: list of int > 0, the training examples per class (the perturbation's
            target is computed from them).
        logit_scale: float > 0. Multiplies the network's outputs before the softmax (LDAM's `s`;
            `1` for logits). Defaults to `1.0`.
        temperature: float > 0. Divides the scaled logits before the softmax (`1`: none; a
            temperature fitted by `inference.fit_temperature`, as `kerasimb train --calibrate`
            does, calibrates the probabilities). With a perturbation it divides the logits of
            the perturbed images (the perturbation's own step is unchanged); with perturbed
            flip views it scales the log of their mean probability. Defaults to `1.0`.
        perturbation: `None` or a dict with `epsilon` (float >= 0), `temperature` (float > 0),
            `loss` (`"ce"`, `"mse"` or `"focal"`) and `flips` (`None` or flip names). Defaults to
            `None`.
        metadata: JSON-compatible dict stored with the model (how it was trained: method,
            parameters, dataset, split, epochs, seed). Defaults to `{}`.

    Example:

    >>> import keras, numpy as np
    >>> network = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                             keras.layers.Dense(2)])
    >>> model = InferenceModel(network, (4, 4, 1), ["benign", "malignant"], [90, 10])
    >>> p = model.predict(np.zeros((3, 4, 4, 1), "uint8"), verbose=0)
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
    ((3, 2), True)
    >>> model.image_shape, model.class_names
    ((4, 4, 1), ['benign', 'malignant'])
    """

    def __init__(self, network, image_shape, class_names, class_counts, logit_scale=1.0,
                 temperature=1.0, perturbation=None, metadata=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(network, keras.Model):
            raise TypeError("Invalid type received for argument `network`. Expected a "
                            f"keras.Model. Received: network of type {type(network).__name__}")
        self.network = network
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError("Invalid value received for argument `image_shape`. Expected (H, W, "
                             f"C) of positive ints. Received: image_shape={image_shape!r}")
        self.class_names = [str(n) for n in class_names]
        self.class_counts = check_class_counts(class_counts, len(self.class_names))
        self.logit_scale = check_float(logit_scale, "logit_scale", minimum=0.0,
                                       min_inclusive=False)
        self.temperature = check_float(temperature, "temperature", minimum=0.0,
                                       min_inclusive=False)
        if perturbation is not None:
            unknown = sorted(set(perturbation) - set(_PERTURBATION_KEYS))
            if unknown or "epsilon" not in perturbation:
                raise ValueError(
                    "Invalid value received for argument `perturbation`. Expected None or a dict "
                    f"with `epsilon` and optionally {list(_PERTURBATION_KEYS[1:])}. Received: "
                    f"perturbation={perturbation!r}")
            perturbation = dict(perturbation)
            if perturbation.get("flips") is not None:
                perturbation["flips"] = list(perturbation["flips"])
            PerturbedPredictor(network, self.class_counts, **perturbation)  # checks the values
        self.perturbation = perturbation
        self.metadata = dict(metadata or {})
        self._predictor = None
        self(keras.ops.zeros((1, *self.image_shape)))  # builds every variable (for loading)

    def call(self, images, training=False):
        logits = keras.ops.cast(self.network(images, training=training), "float32")
        return keras.ops.softmax(logits * self.logit_scale / self.temperature, axis=-1)

    def probabilities(self, outputs):
        """Class probabilities from the network's outputs (numpy): the softmax transform."""
        logits = keras.ops.convert_to_tensor(np.asarray(outputs, np.float32))
        return keras.ops.convert_to_numpy(
            keras.ops.softmax(logits * self.logit_scale / self.temperature, axis=-1))

    def predictor(self):
        """The `PerturbedPredictor` of the stored perturbation (`None` without one)."""
        if self.perturbation is None:
            return None
        if self._predictor is None:
            self._predictor = PerturbedPredictor(self.network, self.class_counts,
                                                 **self.perturbation)
        return self._predictor

    def predict(self, x, batch_size=256, verbose=0, **kwargs):
        """Class probabilities `(N, C)` of images `x` (uint8 or float in [0, 1]), with the
        stored perturbation applied first when there is one.

        A `tf.data.Dataset` or other Keras input is passed to `keras.Model.predict` unchanged
        (no uint8 scaling, no perturbation).
        """
        if not isinstance(x, np.ndarray):
            return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        x = to_float_images(x)
        predictor = self.predictor()
        if predictor is None:
            return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        if predictor.flips:  # perturbed flip views, averaged (as the +perturb method does)
            probabilities = predictor.probabilities(predictor.predict(x, batch_size=batch_size))
            if self.temperature == 1.0:
                return probabilities.astype(np.float32)
            return apply_temperature(probabilities, self.temperature)
        perturbed = predictor.perturb(x, batch_size=batch_size)
        outputs = self.network.predict(perturbed, batch_size=batch_size, verbose=verbose)
        return self.probabilities(outputs)

    def get_config(self):
        return {
            "name": self.name,
            "network": keras.saving.serialize_keras_object(self.network),
            "image_shape": list(self.image_shape),
            "class_names": list(self.class_names),
            "class_counts": list(self.class_counts),
            "logit_scale": self.logit_scale,
            "temperature": self.temperature,
            "perturbation": self.perturbation,
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
