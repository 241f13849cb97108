"""`predict()`: a saved model on new images (a folder, one file or an `.npz`), a CSV out.

Images are read in batches (never the whole folder in memory) with the decoder `load_folder`
uses, resized to the model's input and converted to its channels, and predicted through the
model's own transform (`InferenceModel.predict`, with the perturbation of a `+perturb` model).
With `explain`, each batch's saliency maps (`inference.grad_cam` or `inference.input_gradient`
of the predicted class) are drawn over the images and written as PNGs.

Example:

>>> from kerasimb import runs
>>> rows = runs.predict("runs/ldam/model.keras", "scans/", output="preds.csv")  # doctest: +SKIP
"""

import collections
import os

import numpy as np
from tqdm.auto import tqdm

from kerasimb.api_export import kerasimb_export
from kerasimb.data.folder import IMAGE_EXTENSIONS, check_image_file_ends, read_image
from kerasimb.inference.model import InferenceModel
from kerasimb.inference.saliency import grad_cam, input_gradient, save_overlays
from kerasimb.inference.tta import check_flips, flip_images
from kerasimb.runs.evaluate import load_model, write_image_predictions_csv
from kerasimb.utils.images import check_unit_range
from kerasimb.utils.npz import read_npz
from kerasimb.utils.validation import check_choice, check_float, check_int

__all__ = ["find_images", "predict"]

# The saliency maps `predict(explain=...)` draws, by name.
EXPLAIN_METHODS = {"gradcam": grad_cam, "gradient": input_gradient}


@kerasimb_export("kerasimb.runs.find_images", serializable=False)
def find_images(path):
    """The image files under `path` (a folder, searched recursively, sorted; or one file), as
    `(root, [relative paths])`.

    Raises:
        ValueError: `path` does not exist, or a folder holds no PNG/JPEG file.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        return os.path.dirname(path) or ".", [os.path.basename(path)]
    if not os.path.isdir(path):
        raise ValueError(f"Invalid value received for argument `inputs`. Expected an image "
                         f"folder, an image file or an .npz. Received: inputs={path!r}, which "
                         "does not exist")
    found = []
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [os.path.relpath(os.path.join(folder, f), path).replace(os.sep, "/")
                  for f in files if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
    if not found:
        raise ValueError(f"Invalid value received for argument `inputs`. Expected a folder "
                         f"holding images ({', '.join(IMAGE_EXTENSIONS)}). Received: "
                         f"inputs={path!r}, which holds none")
    return path, sorted(found)


def _npz_images(path, key):
    def select(keys):
        nonlocal key
        if key is None:
            key = keys[0] if len(keys) == 1 else ("images" if "images" in keys else None)
        if key not in keys:
            raise ValueError(f"Invalid value received for argument `npz_key`. Expected one of "
                             f"the arrays in {path!r}: {keys}. Received: npz_key={key!r}")
        return [key]

    images = read_npz(path, "inputs", select)[1][key]
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"Invalid value received for argument `inputs`. Expected images "
                         f"(N, H, W) or (N, H, W, C) in {key!r}. Received: shape {images.shape}")
    check_unit_range(images, "inputs", f" in {key!r} of {path}")
    return images


def _fit_to(images, model):
    """uint8/float images resized and converted to the model's input (for `.npz` inputs)."""
    height, width, channels = model.image_shape
    if images.shape[-1] != channels:
        if images.shape[-1] == 1 and channels == 3:
            images = np.repeat(images, 3, axis=-1)
        else:
            raise ValueError(f"Invalid value received for argument `inputs`. Expected images with "
                             f"{channels} channel(s) for this model. Received: {images.shape[-1]}")
    if images.shape[1:3] != (height, width):
        raise ValueError(f"Invalid value received for argument `inputs`. Expected {height}x{width} "
                         f"images for this model (resize them, or save them as image files). "
                         f"Received: {images.shape[1]}x{images.shape[2]}")
    return images


def _overlay_names(names, npz):
    """The overlay of each image: its path without the extension (sub-folders kept), or with
    it where two files differ only by extension; the index for an `.npz`."""
    if npz:
        return list(names)
    stems = [os.path.splitext(name)[0] for name in names]
    repeated = {stem for stem, count in collections.Counter(stems).items() if count > 1}
    return [name if stem in repeated else stem for name, stem in zip(names, stems)]


def _explain_folder(explain):
    explain = os.fspath(explain)
    if os.path.exists(explain) and not os.path.isdir(explain):
        raise ValueError("Invalid value received for argument `explain`. Expected a folder for "
                         f"the overlay PNGs. Received: explain={explain!r}, which is a file")
    os.makedirs(explain, exist_ok=True)
    return explain


@kerasimb_export("kerasimb.runs.predict", serializable=False)
def predict(model, inputs, output=None, batch_size=64, tta=None, perturb=None,
            skip_unreadable=False, npz_key=None, progress=True, explain=None,
            explain_method="gradcam"):
    """Predicts class probabilities of new images with a saved model.

    Args:
        model: a `.keras` path saved by `train`, or an `inference.InferenceModel`.
        inputs: a folder of images (nested or flat, searched recursively), one image file, or an
            `.npz` holding an image array.
        output: str or `None`. A CSV to write: one row per image with its path (relative to the
            folder; the index for an `.npz`), the predicted class name and one probability
            column per class. Defaults to `None`.
        batch_size: int >= 1. Images read and predicted at a time. Defaults to `64`.
        tta: `None` or flip names (`"horizontal"`, ...): the probabilities are averaged over the
            image and its flips. Defaults to `None`.
        perturb: `None` (the model's own prediction: perturbed for a `+perturb` model) or a float
            ε >= 0: perturb the inputs with this ε (T and target as stored, T = 1000 for a
            model trained without the perturbation). Defaults to `None`.
        skip_unreadable: bool. A file that cannot be decoded is listed with its error (an
            `error` column) and the others predicted, instead of stopping. Defaults to `False`.
        npz_key: the array of an `.npz` to read (default: its only array, or `images`).
        progress: bool. Show a progress bar over the batches. Defaults to `True`.
        explain: `None` or a folder (created if missing): write one PNG per image there, its
            saliency map of the predicted class (the arg-max of the returned probabilities)
            drawn over the image as the model sees it (`inference.save_overlays`), named after
            the image's path without the extension (`ward/case_01.png`; the index for an
            `.npz`: `0.png`, ...). The map is that of the image itself, without the flips of
            `tta` or the perturbation. Defaults to `None`.
        explain_method: `"gradcam"` (`inference.grad_cam`, the last convolutional layer) or
            `"gradient"` (`inference.input_gradient`). Defaults to `"gradcam"`.

    Returns:
        `(names, probabilities, errors)`: the image names, a float32 array `(N, C)` (NaN rows
        for unreadable files) and a dict `{row: error message}`.

    Raises:
        ValueError: a missing or empty input, an unreadable image (without `skip_unreadable`,
            the message names the file), images that do not fit the model, an `explain` path
            that is a file.
    """
    model = load_model(model)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    flips = check_flips(tta)
    saliency = EXPLAIN_METHODS[check_choice(explain_method, "explain_method",
                                            tuple(EXPLAIN_METHODS))]
    if perturb is not None:
        perturb = check_float(perturb, "perturb", minimum=0.0)
        model = InferenceModel(
            model.network, model.image_shape, model.class_names, model.class_counts,
            logit_scale=model.logit_scale, temperature=model.temperature,
            perturbation={**(model.perturbation or {"temperature": 1000.0}), "epsilon": perturb},
            metadata=model.metadata)
    height, width, channels = model.image_shape
    inputs = os.fspath(inputs)
    array_input = inputs.lower().endswith(".npz") and os.path.isfile(inputs)
    if array_input:
        images = _fit_to(_npz_images(inputs, npz_key), model)
        names = [str(i) for i in range(len(images))]
        batches = [(list(range(i, min(i + batch_size, len(images)))), images[i:i + batch_size])
                   for i in range(0, len(images), batch_size)]
    else:
        root, names = find_images(inputs)
        if not skip_unreadable:  # a truncated file stops here, before any prediction
            try:
                check_image_file_ends(os.path.join(root, name) for name in names)
            except ValueError as error:
                raise ValueError(f"{error}, or pass `skip_unreadable=True` "
                                 "(--skip-unreadable) to list it and go on") from None
        batches = ((list(range(i, min(i + batch_size, len(names)))), None)
                   for i in range(0, len(names), batch_size))
    if explain is not None:
        explain = _explain_folder(explain)
        overlay_names = _overlay_names(names, array_input)
    probabilities = np.full((len(names), len(model.class_names)), np.nan, np.float32)
    errors = {}
    bar = tqdm(total=len(names), unit="image", desc="predict" if explain is None else
               "predict+explain", disable=not progress)
    try:
        for rows, array in batches:
            count = len(rows)
            if array is None:
                decoded, good = [], []
                for row in rows:
                    try:
                        decoded.append(read_image(os.path.join(root, names[row]),
                                                  (height, width), channels))
                        good.append(row)
                    except ValueError as error:
                        if not skip_unreadable:
                            raise
                        errors[row] = str(error).split("could not be decoded: ")[-1]
                rows, array = good, np.stack(decoded) if decoded else None
            if array is not None and len(rows):
                probabilities[rows] = _predict_views(model, array, flips, batch_size)
                if explain is not None:
                    maps = saliency(model, array, class_index=probabilities[rows].argmax(axis=1),
                                    batch_size=batch_size)
                    save_overlays(array, maps, [overlay_names[row] for row in rows], explain)
            bar.update(count)
    finally:
        bar.close()
    if output is not None:
        write_image_predictions_csv(output, names, probabilities, model.class_names, errors=errors)
    return names, probabilities, errors


def _predict_views(model, images, flips, batch_size):
    """`model.predict` averaged over the images and their flips."""
    if not flips:
        return model.predict(images, batch_size=batch_size)
    views = [images] + [np.asarray(flip_images(images, f)) for f in flips]
    return np.mean([model.predict(v, batch_size=batch_size) for v in views], axis=0)
