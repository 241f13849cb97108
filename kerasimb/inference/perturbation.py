"""Perturbed input at inference (Chen et al., "Alleviating Data Imbalance Issue with Perturbed
Input During Inference", MICCAI 2021).

A trained classifier is biased toward the classes it saw most. Before predicting, each test input
takes one gradient-sign step that moves its prediction toward a target distribution favouring
the minority classes:

    p̂ = softmax(z(x) / T)                     T large (1000), so p̂ is close to uniform
    p*_c = g(n_c) / Σ_k g(n_k),  g(n) = log(M / n),  M = max_k n_k  (the largest class gets 0)
    x̃ = x − ε · sign(∇ₓ ℓ(p̂, p*))           ℓ = cross-entropy (MSE and focal as options)

and the prediction is made on x̃. The paper uses ε = 0.001 (Skin7, OCTMNIST) or 0.0001 (X-ray6)
and chooses ε on the validation split; `select_epsilon` does that. ε is in the units of the model's
input: kerasimb's pipelines feed float32 images in [0, 1].

The step needs the logits z(x). Models here output logits; a model whose last layer applies a
softmax (a `Softmax` / `Activation("softmax")` layer, or a `Dense`/`Conv` layer with
`activation="softmax"`) is detected and its pre-activation used instead, so the step never
silently differentiates probabilities. Any other model whose outputs look like probabilities
(rows non-negative summing to 1) raises an error unless `outputs="probabilities"` is passed, in
which case `log p` serves as the logits (exact: the softmax is shift-invariant).

The model is always called with `training=False`: BatchNorm uses its moving statistics (which are
not updated) and Dropout is off, as at test time.

With two classes the target is one-hot on the minority class m, ∇ₓℓ = −(1 − p̂_m)·∇ₓ(z_m − z_o)/T
with 1 − p̂_m > 0, so the step x̃ = x + ε·sign(∇ₓ(z_m − z_o)) does not depend on T at all.

The authors' public evaluation code agrees with the paper's formulas (target log(n_max / n_c)
normalised, CE on logits / 1000, x − ε·sign(∇), no clipping). It takes the step on inputs already
normalised by the ImageNet mean and std, so its ε is in standardised units; kerasimb's
`keras.applications` backbones normalise inside the model, so here ε is in [0, 1] pixel units
(the paper's ε = 1e-3 on a channel with std 0.225 is about 2.3e-4 here). `select_epsilon`
chooses ε on the validation split in the model's own units either way.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.inference.tta import check_flips, flip_images
from kerasimb.metrics.report import report as metrics_report
from kerasimb.utils.validation import check_choice, check_class_counts, check_float, check_int

__all__ = ["PerturbedPredictor", "perturb_inputs", "perturbation_target", "select_epsilon", "sweep"]

LOSSES = ("ce", "mse", "focal")
DEFAULT_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
FLOAT16_SCALE = 32.0  # extra loss scale of the float16 input gradient, on top of T


@kerasimb_export("kerasimb.inference.perturbation_target", serializable=False)
def perturbation_target(class_counts, on_balanced="raise"):
    """Returns the paper's target distribution p*_c = log(M / n_c) / Σ_k log(M / n_k).

    M is the largest count, so the largest class (every class tied at M) gets probability 0 and
    the rarest class the most.

    Args:
        class_counts: list of int > 0, training examples per class.
        on_balanced: `"raise"` or `"uniform"`. With perfectly balanced counts every g(n_c) is 0
            and p* is 0/0: `"raise"` refuses (a model trained on balanced data has no imbalance to
            correct), `"uniform"` uses p* = 1/C (a push toward maximal uncertainty; not in the
            paper). Defaults to `"raise"`.

    Returns:
        float64 numpy array `(C,)` summing to 1.

    Raises:
        ValueError: a class with no examples (log(M / 0) is infinite), fewer than 2 classes, or
            balanced counts with `on_balanced="raise"`.

    Example:

    >>> perturbation_target([100, 10, 1]).round(4).tolist()
    [0.0, 0.3333, 0.6667]
    """
    check_choice(on_balanced, "on_balanced", ("raise", "uniform"))
    try:
        counts = np.asarray(check_class_counts(class_counts), dtype=np.float64)
    except ValueError as e:
        if "at least one example" in str(e):
            raise ValueError(f"{e}. The perturbation target uses g(n) = log(M / n), which is "
                             "infinite for n = 0.") from None
        raise
    g = np.log(counts.max() / counts)
    if not g.sum() > 0:
        if on_balanced == "uniform":
            return np.full(len(counts), 1.0 / len(counts))
        raise ValueError(
            "Invalid value received for argument `class_counts`. Expected imbalanced counts: with "
            "every class at the same count, g(n_c) = log(M / n_c) is 0 for every class and the "
            "target p* = g / sum(g) is 0/0. Pass `on_balanced=\"uniform\"` to push toward the "
            "uniform distribution instead, or skip the perturbation. "
            f"Received: class_counts={[int(c) for c in counts]}"
        )
    return g / g.sum()


def _output_operation(model):
    """Returns the layer producing a functional/Sequential model's single output, or `None`."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    if not outputs or len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    return None if history is None else history.operation


def _is_softmax(fn):
    return fn is keras.activations.softmax or getattr(fn, "__name__", "") == "softmax"


def _final_activation(model):
    """Returns `(kind, layer)`: kind is `"softmax_layer"`, `"softmax_activation"`, `"sigmoid"` or
    `None` (no final activation detected)."""
    op = _output_operation(model)
    if op is None:
        return None, None
    if isinstance(op, keras.layers.Softmax):
        return "softmax_layer", op
    activation = getattr(op, "activation", None)
    if activation is None:
        return None, None
    if _is_softmax(activation):
        kind = "softmax_layer" if isinstance(op, keras.layers.Activation) else "softmax_activation"
        return kind, op
    if activation is keras.activations.sigmoid or getattr(activation, "__name__", "") == "sigmoid":
        return "sigmoid", op
    return None, None


def _computes_in_float16(model):
    """Whether any layer of `model` (nested ones included) computes in float16."""
    stack = [model]
    while stack:
        layer = stack.pop()
        if getattr(layer, "compute_dtype", None) == "float16":
            return True
        stack.extend(getattr(layer, "layers", ()))
    return False


def _check_float_input(x, name="x"):
    dtype = x.dtype if isinstance(x, (np.ndarray, tf.Tensor)) else np.asarray(x).dtype
    dtype = tf.as_dtype(dtype)
    if not dtype.is_floating:
        hint = (" Scale uint8 images to float32 in [0, 1] first (x / 255.0), as kerasimb's "
                "pipelines do; epsilon is in those units." if dtype == tf.uint8 else "")
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected float images, because the "
            f"gradient-sign step needs a differentiable input.{hint} Received: {name} with dtype "
            f"{dtype.name}"
        )


@kerasimb_export("kerasimb.inference.PerturbedPredictor", serializable=False)
class PerturbedPredictor:
    """Predicts with a trained model on inputs perturbed toward the minority classes.

    For each batch one compiled function runs a forward pass to the logits, the input gradient of
    ℓ(softmax(z / T), p*) (`tf.GradientTape` watching the input), the step
    x̃ = x − ε·sign(∇ₓℓ) (then `clip`, if given) and a second forward pass on x̃; see the module
    docstring for the formulas. ε and T are arguments of the compiled function, so changing
    them (as `select_epsilon` does) does not recompile.

    With `flips`, each flipped view of the input is perturbed separately and the softmax
    probabilities on the perturbed views are averaged, as `predict_tta` does; `predict` then
    returns the mean probabilities for a softmax model and their log (logits whose softmax is
    the mean) for a logits model.

    Mixed precision: the step is computed in float32 from the model's float32 logits, and the
    outputs are float32, under every dtype policy. A model built under `"mixed_float16"`
    back-propagates in float16, where the input gradient of ℓ(softmax(z / T)) (of order 1/T)
    underflows to zero for some pixels (2-4% for a SmallCNN / QuadSNet at 32x32 in our test),
    which then take no step. The gradient is therefore taken of ℓ scaled by T · 32 (the sign,
    all the step uses, is unchanged), falling back to the unscaled gradient where that
    overflows: the signs then agree with the same weights' float32 signs on 99.4% (SmallCNN) and
    98.6% (QuadSNet) of pixels (bfloat16: 95% and 94%, rounding). Pixels whose gradient still
    underflows are not moved: a MobileNetV2 trained 2 epochs from scratch had float32 input
    gradients of about 1e-17, below float16's range at any usable scale, so under
    `"mixed_float16"` it was not perturbed at all; predict with a `"mixed_bfloat16"` or float32
    copy of such a model (`"mixed_bfloat16"` has float32's range and needs no scaling).

    Args:
        model: a trained `keras.Model` taking float images. It outputs logits, or ends with a
            softmax (detected; its pre-activation is used for the step).
        class_counts: list of int > 0, the training examples per class (one per model output).
        epsilon: float >= 0. Step size in input units (images in [0, 1]: 1e-3 is a quarter of a
            grey level). `0` gives the model's own predictions. Defaults to `1e-3`.
        temperature: float > 0. T. Defaults to `1000.0`.
        loss: `"ce"` (the paper), `"mse"` (squared error between p̂ and p*) or `"focal"`
            (−Σ p*_c (1 − p̂_c)^γ log p̂_c). Defaults to `"ce"`.
        gamma: float >= 0. γ of the focal option. Defaults to `2.0`.
        clip: `None` or `(low, high)`. Clip x̃ to this range (e.g. `(0.0, 1.0)`); the paper does
            not clip. Defaults to `None`.
        outputs: `"auto"`, `"logits"` or `"probabilities"`. `"auto"` uses the pre-activation of a
            detected final softmax and otherwise treats the outputs as logits, raising if they
            look like probabilities; `"logits"` skips that check; `"probabilities"` uses the
            detected pre-activation or else log(p) (exact up to a per-row constant, which the
            softmax ignores). Defaults to `"auto"`.
        on_balanced: `"raise"` or `"uniform"`; see `perturbation_target`. Defaults to `"raise"`.
        flips: `None`, or names among `"horizontal"`, `"vertical"`, `"horizontal_and_vertical"`:
            extra flipped views averaged with the identity view. Defaults to `None`.
        batch_size: int >= 1. Defaults to `128`.
        jit_compile: bool. Compile with XLA. On a 2-core CPU it made perturbed prediction about
            3x slower than plain `tf.function` for SmallCNN and over 20x slower for MobileNetV2
            (see `benchmarks/perturbation.py`; re-measured for issue 10 on 256 images, batch
            128: 0.48 s vs 0.10 s, 4.8x, for SmallCNN 28x28 and 12.7 s vs 0.45 s, 28x, for
            MobileNetV2 32x32), so it is off by default; try it on a GPU. Defaults to `False`.

    Raises:
        ValueError: `class_counts` with a zero count, balanced (with `on_balanced="raise"`) or
            of another length than the model's outputs; `epsilon` < 0; `temperature` <= 0; a
            bad `loss`, `clip`, `outputs` or `flips`; a final sigmoid.
        TypeError: non-float inputs (at `predict` / `perturb`).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
    >>> model.set_weights([np.array([[1.0, -1.0], [0.0, 0.0]])])
    >>> p = PerturbedPredictor(model, class_counts=[100, 10], epsilon=0.5)
    >>> p.perturb(np.array([[1.0, 1.0]], "float32")).tolist()  # the first input moves
    [[0.5, 1.0]]
    >>> p.predict(np.array([[1.0, 1.0]], "float32")).tolist()
    [[0.5, -0.5]]
    """

    def __init__(self, model, class_counts, epsilon=1e-3, temperature=1000.0, loss="ce", gamma=2.0,
                 clip=None, outputs="auto", on_balanced="raise", flips=None, batch_size=128,
                 jit_compile=False):
        if not isinstance(model, keras.Model):
            raise TypeError("Invalid type received for argument `model`. Expected a keras.Model. "
                            f"Received: model of type {type(model).__name__}")
        self.model = model
        self.epsilon = check_float(epsilon, "epsilon", minimum=0.0)
        self.temperature = check_float(temperature, "temperature", minimum=0.0, min_inclusive=False)
        self.loss = check_choice(loss, "loss", LOSSES)
        self.gamma = check_float(gamma, "gamma", minimum=0.0)
        self.clip = self._check_clip(clip)
        self.outputs = check_choice(outputs, "outputs", ("auto", "logits", "probabilities"))
        self.on_balanced = on_balanced
        self.target = perturbation_target(class_counts, on_balanced=on_balanced)
        self.class_counts = [int(c) for c in class_counts]
        self.flips = check_flips(flips)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        if not isinstance(jit_compile, bool):
            raise TypeError("Invalid type received for argument `jit_compile`. Expected a bool. "
                            f"Received: jit_compile={jit_compile!r}")
        self.jit_compile = jit_compile

        num_outputs = self._num_outputs()
        if num_outputs is not None and num_outputs != len(self.class_counts):
            raise ValueError(
                "Invalid value received for argument `class_counts`. Expected one count per model "
                f"output ({num_outputs} classes). Received: {len(self.class_counts)} counts, "
                f"class_counts={self.class_counts}"
            )
        kind, layer = _final_activation(model)
        if kind == "sigmoid":
            raise ValueError(
                "Invalid value received for argument `model`. Expected a softmax classifier "
                "(logits or a final softmax). Received: a model whose last layer "
                f"{layer.name!r} applies a sigmoid, for which p̂ = softmax(z / T) is undefined."
            )
        self.final_softmax = kind is not None
        self.float16 = _computes_in_float16(model)
        self._logits_fn = self._build_logits_fn(kind, layer)
        self._check_probabilities = self.outputs == "auto" and not self.final_softmax
        self._probability_outputs = self.final_softmax or self.outputs == "probabilities"
        self._functions = {}

    # --- Set-up --------------------------------------------------------------------------------

    @staticmethod
    def _check_clip(clip):
        if clip is None:
            return None
        if (isinstance(clip, (str, bytes)) or not hasattr(clip, "__len__") or len(clip) != 2
                or not all(isinstance(v, numbers.Real) for v in clip) or not clip[0] < clip[1]):
            raise ValueError("Invalid value received for argument `clip`. Expected `None` or "
                             f"`(low, high)` with low < high. Received: clip={clip!r}")
        return (float(clip[0]), float(clip[1]))

    def _num_outputs(self):
        try:
            shape = self.model.output_shape
        except (AttributeError, ValueError):
            return None
        if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
            return shape[-1]
        return None

    def _build_logits_fn(self, kind, layer):
        model = self.model
        if kind == "softmax_layer":  # logits are the input of the final Softmax layer
            pre = keras.Model(model.inputs, layer.input)
            return lambda x: pre(x, training=False)
        if kind == "softmax_activation":  # e.g. Dense(activation="softmax"): drop the activation
            features = keras.Model(model.inputs, layer.input)

            def logits(x):
                h = features(x, training=False)
                saved = layer.activation
                layer.activation = keras.activations.linear  # read while tracing only
                try:
                    return layer(h, training=False)
                finally:
                    layer.activation = saved

            return logits
        if self.outputs == "probabilities":  # log p = z − logsumexp(z): the same softmax(·/T)
            return lambda x: tf.math.log(
                tf.maximum(tf.cast(model(x, training=False), tf.float32), 1e-30))
        return lambda x: model(x, training=False)

    def _loss_value(self, logits):
        logits = tf.cast(logits, tf.float32)
        target = tf.constant(self.target, tf.float32)
        if self.loss == "ce":
            return -tf.reduce_sum(target * tf.nn.log_softmax(logits, axis=-1))
        probs = tf.nn.softmax(logits, axis=-1)
        if self.loss == "mse":
            return tf.reduce_sum(tf.square(probs - target))
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        return -tf.reduce_sum(target * tf.pow(1.0 - probs, self.gamma) * log_probs)

    def _input_gradient(self, x, temperature, scale):
        """Returns `(∇ₓ(scale · ℓ), logits)` for one float32 batch."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = tf.cast(self._logits_fn(x), tf.float32)
            loss = self._loss_value(logits / temperature)  # summed: rows are independent
            if scale is not None:
                loss = loss * scale
        return tape.gradient(loss, x), logits

    def _gradient_sign(self, x, temperature):
        """Returns `(sign(∇ₓℓ), looks_like_probabilities)` for one float32 batch."""
        if not self.float16:
            grad, logits = self._input_gradient(x, temperature, None)
        else:
            # float16 backward pass: scale ℓ by T · 2^5 (the sign is unchanged) so that the
            # input gradient does not underflow; if that overflows, take the unscaled one.
            grad, logits = self._input_gradient(x, temperature, temperature * FLOAT16_SCALE)
            grad = tf.cond(tf.reduce_all(tf.math.is_finite(grad)), lambda: grad,
                           lambda: self._input_gradient(x, temperature, None)[0])
        if self._check_probabilities:
            rows = tf.reduce_sum(logits, axis=-1)
            looks = tf.logical_and(tf.reduce_all(logits >= 0.0),
                                   tf.reduce_all(tf.abs(rows - 1.0) < 1e-3))
        else:
            looks = tf.constant(False)
        return tf.sign(grad), looks

    def _step(self, x, sign, epsilon):
        x_new = x - epsilon * sign
        if self.clip is not None:
            x_new = tf.clip_by_value(x_new, self.clip[0], self.clip[1])
        return x_new

    def _function(self, name):
        if name not in self._functions:
            if name == "perturb":
                def fn(x, epsilon, temperature):
                    sign, looks = self._gradient_sign(x, temperature)
                    return self._step(x, sign, epsilon), looks
            elif name == "predict":
                def fn(x, epsilon, temperature):
                    views = [x] + [flip_images(x, f) for f in self.flips]
                    total, looks = 0.0, tf.constant(False)
                    for view in views:
                        sign, view_looks = self._gradient_sign(view, temperature)
                        out = tf.cast(self.model(self._step(view, sign, epsilon), training=False),
                                      tf.float32)
                        looks = tf.logical_or(looks, view_looks)
                        if not self.flips:
                            return out, looks
                        total += out if self._probability_outputs else tf.nn.softmax(out, axis=-1)
                    mean = total / float(len(views))  # mean probabilities, as `predict_tta`
                    return (mean if self._probability_outputs
                            else tf.math.log(tf.maximum(mean, 1e-30))), looks
            elif name == "sign":
                def fn(x, temperature):
                    return self._gradient_sign(x, temperature)
            else:  # "forward" on given inputs
                def fn(x):
                    return tf.cast(self.model(x, training=False), tf.float32)
            self._functions[name] = tf.function(fn, jit_compile=self.jit_compile,
                                                reduce_retracing=True)
        return self._functions[name]

    def _raise_probabilities(self):
        raise ValueError(
            "Invalid value received for argument `model`. Expected a model that outputs logits, "
            "but its outputs look like probabilities (non-negative rows summing to 1) and no final "
            "softmax layer was found to recover the logits from. Differentiating "
            "softmax(p / T) would perturb in a meaningless direction. Pass "
            "`outputs=\"probabilities\"` to use log(p) as the logits, or `outputs=\"logits\"` if "
            "these really are logits."
        )

    # --- Batching -------------------------------------------------------------------------------

    def _batches(self, x, batch_size):
        """Yields float32 tensors of `batch_size` rows from an array or a tf.data.Dataset."""
        if isinstance(x, tf.data.Dataset):
            for element in x:
                if isinstance(element, (tuple, list)):
                    element = element[0]
                if isinstance(element, dict):
                    raise TypeError("Expected dataset elements `images` or `(images, labels)`. "
                                    "Received: a dict element")
                _check_float_input(element)
                yield tf.cast(element, tf.float32)
            return
        if isinstance(x, tf.Tensor):
            x = x.numpy()
        x = np.asarray(x)
        _check_float_input(x)
        if x.ndim < 2:
            raise ValueError("Invalid value received for argument `x`. Expected a batch of inputs "
                             f"(N, ...). Received: x with shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("Invalid value received for argument `x`. Expected finite values. "
                             "Received: NaN or inf")
        x = x.astype(np.float32, copy=False)
        for start in range(0, len(x), batch_size):
            yield tf.constant(x[start:start + batch_size])

    def _scalars(self, epsilon, temperature):
        epsilon = self.epsilon if epsilon is None else check_float(epsilon, "epsilon", minimum=0.0)
        temperature = (self.temperature if temperature is None else
                       check_float(temperature, "temperature", minimum=0.0, min_inclusive=False))
        return tf.constant(epsilon, tf.float32), tf.constant(temperature, tf.float32)

    def _run(self, name, x, epsilon, temperature, batch_size):
        batch_size = self.batch_size if batch_size is None else check_int(batch_size, "batch_size",
                                                                            minimum=1)
        eps, temp = self._scalars(epsilon, temperature)
        fn = self._function(name)
        chunks = []
        for batch in self._batches(x, batch_size):
            out, looks = fn(batch, eps, temp)
            if bool(looks):
                self._raise_probabilities()
            chunks.append(out.numpy())
        if not chunks:
            raise ValueError("Invalid value received for argument `x`. Expected at least one "
                             "example. Received: no examples")
        return np.concatenate(chunks, axis=0)

    # --- Public ---------------------------------------------------------------------------------

    def perturb(self, x, epsilon=None, temperature=None, batch_size=None):
        """Returns the perturbed inputs x̃ (float32 numpy array, the shape of `x`).

        Args:
            x: float array `(N, ...)` or a `tf.data.Dataset` of images or `(images, labels)`.
            epsilon: float >= 0 or `None` (the predictor's). Defaults to `None`.
            temperature: float > 0 or `None` (the predictor's). Defaults to `None`.
            batch_size: int or `None` (the predictor's). Defaults to `None`.
        """
        return self._run("perturb", x, epsilon, temperature, batch_size)

    def predict(self, x, epsilon=None, temperature=None, batch_size=None):
        """Returns the model's outputs on the perturbed inputs, shaped like `model.predict(x)`.

        Logits for a logits model, probabilities for a model ending in a softmax; averaged over
        the flipped views when `flips` is set.

        Args:
            x: float array `(N, ...)` or a `tf.data.Dataset` of images or `(images, labels)`.
            epsilon: float >= 0 or `None` (the predictor's). Defaults to `None`.
            temperature: float > 0 or `None` (the predictor's). Defaults to `None`.
            batch_size: int or `None` (the predictor's). Defaults to `None`.
        """
        return self._run("predict", x, epsilon, temperature, batch_size)

    def predict_sweep(self, x, epsilons, temperature=None, batch_size=None):
        """Returns `{epsilon: outputs}` for several step sizes at the cost of one gradient.

        sign(∇ₓℓ) does not depend on ε, so it is computed once per batch and followed by one
        forward pass per ε. Flip views are not applied here.

        Args:
            x: float array `(N, ...)` or a `tf.data.Dataset`.
            epsilons: sequence of floats >= 0.
            temperature: float > 0 or `None` (the predictor's). Defaults to `None`.
            batch_size: int or `None` (the predictor's). Defaults to `None`.
        """
        epsilons = [check_float(e, "epsilons", minimum=0.0) for e in epsilons]
        if not epsilons:
            raise ValueError("Invalid value received for argument `epsilons`. Expected at least "
                             "one value. Received: epsilons=[]")
        batch_size = self.batch_size if batch_size is None else check_int(batch_size, "batch_size",
                                                                            minimum=1)
        _, temp = self._scalars(None, temperature)
        sign_fn, forward = self._function("sign"), self._function("forward")
        outputs = {e: [] for e in epsilons}
        for batch in self._batches(x, batch_size):
            sign, looks = sign_fn(batch, temp)
            if bool(looks):
                self._raise_probabilities()
            for e in epsilons:
                outputs[e].append(forward(self._step(batch, sign, tf.constant(e, tf.float32)))
                                  .numpy())
        if not outputs[epsilons[0]]:
            raise ValueError("Invalid value received for argument `x`. Expected at least one "
                             "example. Received: no examples")
        return {e: np.concatenate(chunks, axis=0) for e, chunks in outputs.items()}

    def probabilities(self, outputs):
        """Converts outputs of `predict` to probabilities (softmax of logits; as-is otherwise)."""
        outputs = np.asarray(outputs, dtype=np.float64)
        if self._probability_outputs:
            return outputs
        outputs = outputs - outputs.max(axis=-1, keepdims=True)
        e = np.exp(outputs)
        return e / e.sum(axis=-1, keepdims=True)

    def __repr__(self):
        return (f"PerturbedPredictor(model={self.model.name!r}, epsilon={self.epsilon}, "
                f"temperature={self.temperature}, loss={self.loss!r}, flips={self.flips})")


@kerasimb_export("kerasimb.inference.perturb_inputs", serializable=False)
def perturb_inputs(model, x, class_counts, epsilon=1e-3, temperature=1000.0, loss="ce", clip=None,
                   batch_size=128, **kwargs):
    """Returns x̃ = x − ε·sign(∇ₓ ℓ(softmax(z(x) / T), p*)): inputs nudged toward rare classes.

    A one-call form of `PerturbedPredictor(...).perturb(x)`; see that class for every argument
    and error. Each call compiles the step anew: for repeated calls, build a
    `PerturbedPredictor` once.

    Args:
        model: a trained `keras.Model` outputting logits (or ending in a detected softmax).
        x: float array `(N, ...)` (e.g. images in [0, 1]) or a `tf.data.Dataset`.
        class_counts: list of int > 0, training examples per class.
        epsilon: float >= 0. Defaults to `1e-3`.
        temperature: float > 0. Defaults to `1000.0`.
        loss: `"ce"`, `"mse"` or `"focal"`. Defaults to `"ce"`.
        clip: `None` or `(low, high)`. Defaults to `None`.
        batch_size: int >= 1. Defaults to `128`.
        **kwargs: `gamma`, `outputs`, `on_balanced`, `jit_compile` for `PerturbedPredictor`.

    Returns:
        float32 numpy array shaped like `x`.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
    >>> model.set_weights([np.array([[2.0, 0.0], [0.0, 1.0]])])
    >>> x_new = perturb_inputs(model, np.zeros((1, 2), "float32"), [50, 5], epsilon=0.25)
    >>> x_new.tolist()
    [[-0.25, 0.25]]
    """
    predictor = PerturbedPredictor(model, class_counts, epsilon=epsilon, temperature=temperature,
                                   loss=loss, clip=clip, batch_size=batch_size, **kwargs)
    return predictor.perturb(x)


def _score(y, probabilities, class_counts, metric):
    report = metrics_report(y, probabilities, class_counts=class_counts)
    if metric not in report or not np.isscalar(report[metric]):
        names = sorted(k for k, v in report.items() if np.isscalar(v))
        raise ValueError(f"Invalid value received for argument `metric`. Expected one of {names}. "
                         f"Received: metric={metric!r}")
    return float(report[metric])


@kerasimb_export("kerasimb.inference.sweep", serializable=False)
def sweep(model, x, y, class_counts, epsilons=DEFAULT_GRID, temperatures=(1000.0,),
          metrics=("balanced_accuracy", "smallest_class_recall"), **kwargs):
    """Scores the perturbed predictions over a grid of ε and T (the paper's Fig. 3).

    One gradient per T and batch; one forward pass per ε (see `predict_sweep`).

    Args:
        model: a trained `keras.Model`.
        x: float array `(N, ...)`.
        y: int labels `(N,)`.
        class_counts: list of int > 0, training examples per class.
        epsilons: sequence of floats >= 0. Defaults to `DEFAULT_GRID`.
        temperatures: sequence of floats > 0. Defaults to `(1000.0,)`.
        metrics: keys of `kerasimb.metrics.report` (scalars). Defaults to mean class recall
            (`"balanced_accuracy"`) and `"smallest_class_recall"`.
        **kwargs: more `PerturbedPredictor` arguments (`loss`, `clip`, `outputs`, ...).

    Returns:
        list of dicts `{"epsilon", "temperature", <metric>: value, ...}`, T-major order.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0]]), np.array([0.0, 0.0])])
    >>> rows = sweep(model, np.array([[0.1], [-0.1]], "float32"), [0, 1], [10, 1],
    ...              epsilons=[0.0, 0.5])
    >>> [(r["epsilon"], r["balanced_accuracy"]) for r in rows]
    [(0.0, 1.0), (0.5, 0.5)]
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    counts = [int(c) for c in class_counts]
    predictor = PerturbedPredictor(model, counts, **kwargs)
    rows = []
    for temperature in temperatures:
        outputs = predictor.predict_sweep(x, epsilons, temperature=temperature)
        for epsilon, out in outputs.items():
            probs = predictor.probabilities(out)
            row = {"epsilon": epsilon, "temperature": float(temperature)}
            row.update({m: _score(y, probs, counts, m) for m in metrics})
            rows.append(row)
    return rows


@kerasimb_export("kerasimb.inference.select_epsilon", serializable=False)
def select_epsilon(model, x_val, y_val, class_counts, grid=DEFAULT_GRID,
                   metric="balanced_accuracy", temperature=1000.0, **kwargs):
    """Chooses ε on a validation split, as the paper does: the grid value with the best metric.

    Ties go to the smallest ε (the gentlest perturbation). Include `0.0` in `grid` to allow
    "no perturbation" to win.

    Args:
        model: a trained `keras.Model`.
        x_val: float validation images `(N, ...)`.
        y_val: int validation labels `(N,)`.
        class_counts: list of int > 0, the *training* examples per class.
        grid: sequence of floats >= 0. Defaults to `DEFAULT_GRID` (1e-4 ... 1e-2).
        metric: a scalar key of `kerasimb.metrics.report`. Defaults to `"balanced_accuracy"`
            (mean class recall).
        temperature: float > 0. Defaults to `1000.0`.
        **kwargs: more `PerturbedPredictor` arguments.

    Returns:
        `(best_epsilon, {epsilon: score})`.

    Raises:
        ValueError: an empty grid, an unknown metric, or any `PerturbedPredictor` error.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    >>> model.set_weights([np.array([[1.0, -1.0]]), np.array([0.5, 0.0])])
    >>> x = np.array([[0.1], [-0.1], [-0.4]], "float32")
    >>> select_epsilon(model, x, [0, 1, 1], [10, 1], grid=[0.0, 0.1, 0.2])
    (0.2, {0.0: 0.75, 0.1: 0.75, 0.2: 1.0})
    """
    grid = [check_float(e, "grid", minimum=0.0) for e in grid]
    if not grid:
        raise ValueError("Invalid value received for argument `grid`. Expected at least one "
                         "epsilon. Received: grid=[]")
    rows = sweep(model, x_val, y_val, class_counts, epsilons=grid, temperatures=(temperature,),
                 metrics=(metric,), **kwargs)
    scores = {row["epsilon"]: row[metric] for row in rows}
    best = max(scores.values())
    return min(e for e, s in scores.items() if s == best), scores
