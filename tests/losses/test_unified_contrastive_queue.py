"""The optional PaCo-style memory queue of the unified contrastive loss and of `models.AdUni`."""

import math
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasimb import methods
from kerasimb.losses import UnifiedContrastiveLoss, unified_contrastive_loss
from kerasimb.models import AdUni


def naive_with_queue(labels, features, logits, class_counts, alpha, beta, temperature,
                     base_temperature, keys, key_labels, valid):
    """The formula with explicit loops: batch anchors (view-major) against the C class logits,
    every other view of the batch and every valid queued key."""
    b, v, _ = features.shape
    anchors = [(labels[i], features[i, view] / np.linalg.norm(features[i, view]),
                logits[view * b + i]) for view in range(v) for i in range(b)]
    prior = [math.log(n / sum(class_counts)) for n in class_counts]
    queue = [(key_labels[k], keys[k] / np.linalg.norm(keys[k]))
             for k in range(len(keys)) if valid[k]]
    losses = []
    for i, (yi, fi, gi) in enumerate(anchors):
        adjusted = [gi[c] + prior[c] for c in range(len(prior))]
        others = [(yj, fj) for j, (yj, fj, _) in enumerate(anchors) if j != i] + queue
        log_d = math.log(sum(math.exp(a) for a in adjusted)
                         + sum(math.exp(float(fi @ fj) / temperature) for _, fj in others))
        numerator, weight = beta * (adjusted[yi] - log_d), beta
        for yj, fj in others:
            if yj == yi:
                numerator += alpha * (float(fi @ fj) / temperature - log_d)
                weight += alpha
        losses.append(-(temperature / base_temperature) * numerator / weight)
    return float(np.mean(losses))


def case(seed, b=5, c=3, d=4, q=6):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, b)
    features = rng.normal(size=(b, 2, d))
    logits = rng.normal(size=(2 * b, c)) * 2.0
    keys = rng.normal(size=(q, d))
    key_labels = rng.integers(0, c, q)
    return labels, features, logits, keys, key_labels


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.3, 0.7), (0.0, 1.0), (0.02, 1.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_queue_matches_the_formula(alpha, beta, seed):
    labels, features, logits, keys, key_labels = case(seed)
    counts = [7, 3, 2]
    valid = np.array([1, 0, 1, 1, 0, 1])
    got = unified_contrastive_loss(labels, features.astype("float32"), logits.astype("float32"),
                                   counts, alpha, beta, queue_features=keys,
                                   queue_labels=key_labels, queue_valid=valid)
    want = naive_with_queue(labels, features, logits, counts, alpha, beta, 0.1, 0.07, keys,
                            key_labels, valid)
    np.testing.assert_allclose(float(got), want, rtol=1e-4)
    # All-invalid queue = no queue.
    none = unified_contrastive_loss(labels, features, logits, counts, alpha, beta,
                                    queue_features=keys, queue_labels=key_labels,
                                    queue_valid=np.zeros(6))
    np.testing.assert_allclose(float(none),
                               float(unified_contrastive_loss(labels, features, logits, counts,
                                                              alpha, beta)), rtol=1e-5)


def test_queue_errors():
    labels, features, logits, keys, key_labels = case(0)
    with pytest.raises(ValueError, match="argument `queue_features`"):
        unified_contrastive_loss(labels, features, logits, None, 1.0, queue_features=keys[:, :3],
                                 queue_labels=key_labels)
    with pytest.raises(ValueError, match="argument `queue_labels`"):
        unified_contrastive_loss(labels, features, logits, None, 1.0, queue_features=keys)
    with pytest.raises(ValueError, match="argument `queue_labels`"):
        unified_contrastive_loss(labels, features, logits, None, 1.0, queue_features=keys,
                                 queue_labels=key_labels[:2])
    with pytest.raises(ValueError, match="argument `queue_size`"):
        AdUni(tiny_encoder(), 3, queue_size=-1)
    with pytest.raises(ValueError, match="argument `queue_size`"):
        methods.get("paco", queue_size=-2)


def tiny_encoder():
    inputs = keras.Input((4, 4, 1))
    return keras.Model(inputs, keras.layers.Dense(16)(keras.layers.Flatten()(inputs)))


def test_model_queue_is_a_ring_buffer_of_detached_first_view_keys():
    keras.utils.set_random_seed(0)
    model = AdUni(tiny_encoder(), 3, class_counts=[3, 3, 2], projection_dim=4, queue_size=5)
    model.compile(keras.optimizers.SGD(0.0), metrics=["accuracy"])  # weights stay put
    x = np.random.default_rng(0).random((8, 4, 4, 1)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 0, 2, 1])
    ds = tf.data.Dataset.from_tensor_slices(((x, x), np.eye(3, dtype="float32")[y])).batch(4)
    model.fit(ds, epochs=1, verbose=0)
    keys = keras.ops.convert_to_numpy(model.projection(model.encoder(x)))
    # By hand: step 1 fills slots 0-3 with examples 0-3; step 2 writes examples 4-7 to
    # slots 4, 0, 1, 2.
    order = [5, 6, 7, 3, 4]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.queue), keys[order], atol=1e-5)
    assert keras.ops.convert_to_numpy(model.queue_labels).tolist() == y[order].tolist()
    assert int(keras.ops.convert_to_numpy(model.queue_count)) == 8
    # test_step reads the full queue and leaves it unchanged.
    features = np.stack([keys[:4], keys[:4]], axis=1)
    logits = keras.ops.convert_to_numpy(model(x[:4]))
    want = naive_with_queue(y[:4], features, np.concatenate([logits, logits]), [3, 3, 2], 1.0,
                            1.0, 0.1, 0.07, keys[order], y[order], np.ones(5))
    got = model.evaluate((x[:4], x[:4]), np.eye(3)[y[:4]], verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-4)
    assert int(keras.ops.convert_to_numpy(model.queue_count)) == 8
    # A batch larger than the queue keeps its newest Q keys.
    big = AdUni(tiny_encoder(), 3, projection_dim=4, queue_size=3)
    big.compile(keras.optimizers.SGD(0.0))
    big.fit(tf.data.Dataset.from_tensor_slices(((x, x), np.eye(3, dtype="float32")[y])).batch(8),
            verbose=0)
    assert keras.ops.convert_to_numpy(big.queue_labels).tolist() == y[5:].tolist()


def test_queue_round_trips_config_and_keras_file():
    model = AdUni(tiny_encoder(), 3, projection_dim=4, queue_size=6)
    model.queue.assign(np.arange(24, dtype="float32").reshape(6, 4))
    model.queue_count.assign(6)
    assert model.get_config()["queue_size"] == 6
    path = os.path.join(tempfile.mkdtemp(), "queue.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.queue_size == 6
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.queue),
                                  np.arange(24).reshape(6, 4))
    assert AdUni(tiny_encoder(), 3).queue_size == 0 and not hasattr(AdUni(tiny_encoder(), 3),
                                                                     "queue")
    built = methods.get("paco", queue_size=6).build_model(
        lambda shape, k: keras.Sequential([keras.Input(shape), keras.layers.Flatten(),
                                           keras.layers.Dense(k)]),
        type("D", (), {"image_shape": (4, 4, 1), "num_classes": 3,
                       "class_counts": [3, 3, 2]})())
    assert built.queue_size == 6
    assert isinstance(UnifiedContrastiveLoss(None).call_with_queue(
        [0, 1], (np.ones((2, 2, 4), "float32"), np.zeros((4, 3), "float32")),
        np.ones((2, 4), "float32"), [0, 2]), tf.Tensor)
