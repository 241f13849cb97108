"""Datasets, long-tail construction and (later) sampling and mixing pipelines.

Every loader returns an `ImageDataset`; pipelines take `(images, labels)` arrays.

Under `tf.distribute` the training pipelines' `batch_size` is the **global** batch: `fit`
splits every batch into one slice per replica (`MirroredStrategy`: consecutive slices of
batch / R rows). Across workers (`MultiWorkerMirroredStrategy`) they shard by DATA, which is
what `tf.data`'s AUTO policy falls back to for these in-memory / file-list samplers and what
`utils.with_data_sharding` sets explicitly: every worker runs the same seeded sampler and
keeps its part of each global batch, so the global batches, and the class distribution of
every sampler, are exactly those of one machine (OFF with per-worker seeds would only keep the
distribution in expectation). Note that `fit` under a strategy opens the training dataset
twice (once to build the model), so pipelines that shuffle with `reshuffle_each_iteration`
(`classification_dataset`, `two_view_dataset` without `q`) train on their second shuffle order
there; the stateless samplers (`sampled_dataset`, the mixing pipelines) give the same batches.
"""

from kerasimb.data.datasets import DATASETS, load_dataset
from kerasimb.data.digits import load_digits_lt
from kerasimb.data.folder import load_folder, read_image
from kerasimb.data.folds import kfold_datasets, stratified_folds
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.data.image_files import ImageFiles
from kerasimb.data.long_tail import long_tailed_counts, make_long_tailed
from kerasimb.data.medmnist import load_medmnist
from kerasimb.data.pipeline import classification_dataset
from kerasimb.data.augment import augment_batch, resolve_augment
from kerasimb.data.mixing import balanced_mixup_dataset, cutmix_dataset, mixup_dataset, remix_dataset
from kerasimb.data.sampling import (
    SamplingWeights,
    class_probabilities,
    effective_class_distribution,
    sampled_dataset,
)
from kerasimb.data.tfds_loader import load_tfds
from kerasimb.data.views import two_view_dataset, view_augment

__all__ = [
    "DATASETS",
    "ImageDataset",
    "ImageFiles",
    "SamplingWeights",
    "augment_batch",
    "balanced_mixup_dataset",
    "class_probabilities",
    "cutmix_dataset",
    "effective_class_distribution",
    "mixup_dataset",
    "remix_dataset",
    "resolve_augment",
    "sampled_dataset",
    "classification_dataset",
    "kfold_datasets",
    "stratified_folds",
    "load_dataset",
    "load_digits_lt",
    "load_folder",
    "load_medmnist",
    "load_tfds",
    "long_tailed_counts",
    "make_long_tailed",
    "read_image",
    "two_view_dataset",
    "view_augment",
]
