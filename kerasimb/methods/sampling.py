"""Sampling and mixing methods: class / square-root / progressive sampling, DRS, MixUp, CutMix,
Remix and Balanced-MixUp (Galdran et al., MICCAI 2021).

Each overrides `train_dataset` (and `callbacks` where the sampling changes during training); the
loss is the base class's categorical cross-entropy on logits, which takes the soft labels of the
mixing pipelines. Every method has an `augment` parameter (default `False`, like `ce`, so that a
comparison differs only in the sampling); `True` applies `data.augment_batch` (flips, small
rotation, crop-and-resize, the paper's training augmentation) after sampling.

Example:

>>> from kerasimb import methods
>>> methods.get("balanced-mixup", alpha=0.3).params
{'augment': False, 'alpha': 0.3, 'per_example': False}
"""

from kerasimb.callbacks.sampling import DeferredResampling, ProgressiveSampling, default_start_epoch
from kerasimb.data import mixing
from kerasimb.data.pipeline import steps_per_epoch
from kerasimb.data.sampling import SamplingWeights, sampled_dataset
from kerasimb.methods.registry import Method, register
from kerasimb.utils.validation import check_bool, check_float, check_int

_GALDRAN = "Galdran et al., Balanced-MixUp, MICCAI 2021"


class _PipelineMethod(Method):
    """A method whose training batches come from a kerasimb.data sampling/mixing pipeline."""

    defaults = {"augment": False}

    def validate_params(self, params):
        check_bool(params["augment"], "augment")
        if "alpha" in params:
            params["alpha"] = check_float(params["alpha"], "alpha", 0.0, min_inclusive=False)
        if "per_example" in params:
            check_bool(params["per_example"], "per_example")
        return params

    def make_dataset(self, x, y, num_classes, batch_size, seed, augment):
        raise NotImplementedError

    def train_dataset(self, dataset, batch_size, seed, augment=None):
        x, y = dataset.train
        ds = self.make_dataset(x, y, dataset.num_classes, batch_size, seed,
                               self.params["augment"] if augment is None else augment)
        return ds, steps_per_epoch(len(y), batch_size)


class _MixingMethod(_PipelineMethod):
    """A method whose batches come from `mixing_fn`, a pipeline of `kerasimb.data.mixing`; its
    parameters (`defaults`) are keyword arguments of that function."""

    mixing_fn = None

    def make_dataset(self, x, y, num_classes, batch_size, seed, augment):
        return self.mixing_fn(x, y, batch_size=batch_size, seed=seed, num_classes=num_classes,
                              **{**self.params, "augment": augment})


class _QSampling(_PipelineMethod):
    q = 1.0

    def make_dataset(self, x, y, num_classes, batch_size, seed, augment):
        return sampled_dataset(x, y, q=self.q, batch_size=batch_size, num_classes=num_classes,
                               augment=augment, seed=seed)


@register("class-sampling")
class ClassSampling(_QSampling):
    """Class-based sampling (q = 0): every class drawn equally often, examples uniformly within."""

    description = "class-based sampling (q=0) + cross-entropy"
    reference = _GALDRAN + "; Kang et al., ICLR 2020"
    q = 0.0


@register("sqrt-sampling")
class SqrtSampling(_QSampling):
    """Square-root sampling (q = 1/2): p_j ∝ sqrt(n_j)."""

    description = "square-root sampling (q=1/2) + cross-entropy"
    reference = _GALDRAN + "; Mahajan et al., ECCV 2018"
    q = 0.5


class _ScheduledSampling(_PipelineMethod):
    """Keeps the `SamplingWeights` and steps per epoch of the last `train_dataset` call for its
    callback, which sets the per-step schedule before `fit` starts the pipeline."""

    def train_dataset(self, dataset, batch_size, seed, augment=None):
        x, y = dataset.train
        self.weights = SamplingWeights(dataset.class_counts, q=1.0)
        ds = sampled_dataset(x, y, q=self.weights, batch_size=batch_size,
                             num_classes=dataset.num_classes,
                             augment=self.params["augment"] if augment is None else augment,
                             seed=seed)
        self.steps = steps_per_epoch(len(y), batch_size)
        return ds, self.steps

    def _weights(self):
        weights = getattr(self, "weights", None)
        if weights is None:
            raise RuntimeError(f"Call `train_dataset` before `callbacks` for method `{self.name}`.")
        return weights


@register("progressive-sampling")
class ProgressiveSamplingMethod(_ScheduledSampling):
    """Progressive-balanced sampling (Kang et al., 2020): p moves linearly from instance to
    class sampling over the epochs, driven by `callbacks.ProgressiveSampling`."""

    description = "progressive-balanced sampling (instance -> class) + cross-entropy"
    reference = "Kang et al., ICLR 2020"

    def callbacks(self, dataset, epochs):
        return [ProgressiveSampling(self._weights(), epochs, steps_per_epoch=self.steps)]


@register("drs")
class DeferredResamplingMethod(_ScheduledSampling):
    """Deferred re-sampling (Cao et al., 2019): instance sampling, then class sampling from
    `start_epoch` (`None`: floor(0.8 * epochs), Cao et al.'s 160 of 200)."""

    description = "instance sampling, class sampling from 80% of the epochs (DRS) + cross-entropy"
    reference = "Cao et al., NeurIPS 2019"
    defaults = {"augment": False, "start_epoch": None}

    def validate_params(self, params):
        params = super().validate_params(params)
        if params["start_epoch"] is not None:
            params["start_epoch"] = check_int(params["start_epoch"], "start_epoch", minimum=0)
        return params

    def callbacks(self, dataset, epochs):
        start = self.params["start_epoch"]
        start = default_start_epoch(epochs) if start is None else start
        return [DeferredResampling(self._weights(), start, steps_per_epoch=self.steps)]


@register("mixup")
class MixUp(_MixingMethod):
    """MixUp within the instance stream, λ ~ Beta(α, α) (Zhang et al., 2018)."""

    description = "MixUp (Beta(a,a), instance stream) + cross-entropy"
    reference = "Zhang et al., ICLR 2018"
    defaults = {"augment": False, "alpha": 1.0, "per_example": False}
    search_space = {"alpha": ("float", 0.1, 2.0, "log")}
    mixing_fn = staticmethod(mixing.mixup_dataset)


@register("cutmix")
class CutMix(_MixingMethod):
    """CutMix within the instance stream (Yun et al., 2019)."""

    description = "CutMix (instance stream) + cross-entropy"
    reference = "Yun et al., ICCV 2019"
    defaults = {"augment": False, "alpha": 1.0, "per_example": False}
    search_space = {"alpha": ("float", 0.1, 2.0, "log")}
    mixing_fn = staticmethod(mixing.cutmix_dataset)


@register("remix")
class Remix(_MixingMethod):
    """Remix (Chou et al., 2020): MixUp images, labels pushed to the minority (κ = 3, τ = 0.5)."""

    description = "Remix (kappa=3, tau=0.5) + cross-entropy"
    reference = "Chou et al., ECCV Workshops 2020"
    defaults = {"augment": False, "alpha": 1.0, "kappa": 3.0, "tau": 0.5, "per_example": False}
    search_space = {"alpha": ("float", 0.1, 2.0, "log"), "kappa": ("float", 1.0, 5.0),
                    "tau": ("float", 0.0, 1.0)}
    mixing_fn = staticmethod(mixing.remix_dataset)

    def validate_params(self, params):
        params = super().validate_params(params)
        params["kappa"] = check_float(params["kappa"], "kappa", 1.0)
        params["tau"] = check_float(params["tau"], "tau", 0.0, 1.0)
        return params


@register("balanced-mixup")
class BalancedMixUp(_MixingMethod):
    """Balanced-MixUp (Galdran et al., 2021): instance batch mixed with a class-sampled batch,
    λ ~ Beta(α, 1) on the class-sampled batch; `per_example` draws one λ per example instead of
    one per batch (the authors' code)."""

    description = "Balanced-MixUp (instance x class batches, Beta(a,1)) + cross-entropy"
    reference = _GALDRAN
    defaults = {"augment": False, "alpha": 0.1, "per_example": False}
    search_space = {"alpha": ("float", 0.05, 1.0, "log")}  # the paper tries 0.1, 0.2, 0.3
    mixing_fn = staticmethod(mixing.balanced_mixup_dataset)

