"""BBN (Zhou et al., CVPR 2020) as the named method `bbn`: two samplers, two branches, one fit.

The conventional branch trains on instance-sampled batches, the re-balancing branch on
reversed-sampled ones (class j drawn with probability ∝ 1 / n_j: `data.sampled_dataset` with
q = −1); `models.BBN` mixes their logits with α and `CumulativeLearning` sets α = 1 − (T /
T_max)² at the start of epoch T = 1, ..., T_max, so training moves from the conventional branch
to the re-balancing one. Predictions use α = 0.5 (both branches, same image).

Simplified from the paper: each branch's own block is one Dense + ReLU layer on the shared
pooled features instead of a copy of the backbone's last residual block; both samplers draw
with replacement (the conventional one uniformly over the images).

Example:

>>> from kerasimb import methods
>>> method = methods.get("bbn")
>>> [round(a, 4) for a in CumulativeLearning(4).alphas]
[0.9375, 0.75, 0.4375, 0.0]
"""

import keras
import tensorflow as tf

from kerasimb.data.pipeline import steps_per_epoch
from kerasimb.data.sampling import sampled_dataset
from kerasimb.methods.registry import Method, register
from kerasimb.methods.two_stage import penultimate_features
from kerasimb.models.bbn import BBN
from kerasimb.utils.validation import check_int


class CumulativeLearning(keras.callbacks.Callback):
    """Sets `model.alpha` to α_T = 1 − (T / T_max)² at the start of epoch T (1-based) of
    `epochs` = T_max, and logs it as `bbn_alpha` (Zhou et al.'s cumulative learning).

    Args:
        epochs: int >= 1, T_max.
    """

    def __init__(self, epochs):
        super().__init__()
        self.epochs = check_int(epochs, "epochs", minimum=1)
        self.alphas = [1.0 - ((t + 1) / self.epochs) ** 2 for t in range(self.epochs)]

    def on_epoch_begin(self, epoch, logs=None):
        self.model.alpha.assign(self.alphas[min(epoch, self.epochs - 1)])


@register("bbn")
class BilateralBranch(Method):
    """BBN: conventional (instance) and re-balancing (reversed) branches with cumulative
    learning (Zhou et al., CVPR 2020), simplified (see `kerasimb.methods.bbn`)."""

    description = "BBN: instance + reversed-sampled branches, cumulative learning α = 1 − (T/T_max)²"
    reference = "Zhou et al., CVPR 2020"

    def build_model(self, model_fn, dataset):
        backbone = penultimate_features(model_fn(dataset.image_shape, dataset.num_classes))
        return BBN(backbone, dataset.num_classes)

    def train_dataset(self, dataset, batch_size, seed, augment=None):
        """Batches `((x_c, x_r), (y_c, y_r))`: instance-sampled and reversed-sampled."""
        x, y = dataset.train
        kwargs = {"batch_size": batch_size, "num_classes": dataset.num_classes,
                  **({} if augment is None else {"augment": augment})}
        conventional = sampled_dataset(x, y, q=1.0, seed=seed, **kwargs)
        rebalancing = sampled_dataset(x, y, q=-1.0, seed=seed + 1, **kwargs)
        ds = tf.data.Dataset.zip((conventional, rebalancing)).map(
            lambda c, r: ((c[0], r[0]), (c[1], r[1])), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE), steps_per_epoch(len(y), batch_size)

    def callbacks(self, dataset, epochs):
        return [CumulativeLearning(epochs)]
