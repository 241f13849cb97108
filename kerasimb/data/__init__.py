"""Datasets, long-tail construction and (later) sampling and mixing pipelines.

Every loader returns an `ImageDataset`; pipelines take `(images, labels)` arrays.
"""

from kerasimb.data.datasets import SOURCES, load_dataset
from kerasimb.data.digits import load_digits_lt
from kerasimb.data.folder import load_folder
from kerasimb.data.folds import kfold_datasets, stratified_folds
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.data.long_tail import long_tailed_counts, make_long_tailed
from kerasimb.data.medmnist import load_medmnist
from kerasimb.data.pipeline import classification_dataset
from kerasimb.data.tfds_loader import load_tfds

__all__ = [
    "ImageDataset",
    "SOURCES",
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
]
