"""`runs.predict`: folders (nested or flat), one file, an `.npz`; unreadable files; flips."""

import csv
import os

import numpy as np
import pytest
from deploy_helpers import png_folder
from PIL import Image

from kerasimb import data, inference, runs


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    root = png_folder(tmp_path_factory.mktemp("pngs"))
    out = tmp_path_factory.mktemp("model")
    runs.train(f"folder:{root}", "ce", out, epochs=1, batch_size=16, progress=False)
    return str(out / "model.keras")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_nested_folder_matches_model_predict(model_path, tmp_path):
    folder = png_folder(tmp_path / "new", per_class=(5, 4), size=20)  # resized to 12 x 12
    names, probabilities, errors = runs.predict(model_path, folder, tmp_path / "p.csv",
                                                batch_size=3, progress=False)
    assert names == sorted(os.path.relpath(os.path.join(d, f), folder)
                           for d, _, files in os.walk(folder) for f in files)
    assert errors == {} and probabilities.shape == (9, 2)
    model = runs.load_model(model_path)
    images = np.stack([data.read_image(os.path.join(folder, n), (12, 12), 1) for n in names])
    np.testing.assert_array_equal(probabilities, model.predict(images))
    rows = _rows(tmp_path / "p.csv")
    assert [r["path"] for r in rows] == names
    p = np.array([[float(r["p_left"]), float(r["p_right"])] for r in rows])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert [r["predicted_class"] for r in rows] == [["left", "right"][i] for i in p.argmax(1)]


def test_flat_folder_one_file_and_npz(model_path, tmp_path):
    flat = png_folder(tmp_path / "flat", per_class=(3, 2), nested=False)
    names, flat_p, _ = runs.predict(model_path, flat, progress=False)
    assert len(names) == 5 and all("/" not in n for n in names)
    one, one_p, _ = runs.predict(model_path, os.path.join(flat, names[0]), progress=False)
    assert one == [names[0]]
    np.testing.assert_allclose(one_p[0], flat_p[0], rtol=1e-6)
    images = np.stack([data.read_image(os.path.join(flat, n), (12, 12), 1) for n in names])
    np.savez(tmp_path / "x.npz", images=images[..., 0], labels=np.zeros(5))
    index, npz_p, _ = runs.predict(model_path, tmp_path / "x.npz", progress=False)
    assert index == ["0", "1", "2", "3", "4"]
    np.testing.assert_allclose(npz_p, flat_p, rtol=1e-6)


def test_an_unreadable_file_stops_or_is_listed(model_path, tmp_path):
    folder = png_folder(tmp_path / "mixed", per_class=(2, 2))
    broken = os.path.join(folder, "left", "broken.png")
    with open(broken, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not an image")
    with pytest.raises(ValueError, match="broken.png.*IEND.*--skip-unreadable"):
        runs.predict(model_path, folder, progress=False)
    names, probabilities, errors = runs.predict(model_path, folder, tmp_path / "p.csv",
                                                skip_unreadable=True, progress=False)
    row = names.index("left/broken.png")
    assert list(errors) == [row] and np.isnan(probabilities[row]).all()
    assert not np.isnan(np.delete(probabilities, row, axis=0)).any()
    rows = _rows(tmp_path / "p.csv")
    assert rows[row]["error"] and rows[row]["predicted_class"] == ""
    assert all(r["error"] == "" for i, r in enumerate(rows) if i != row)


def test_flip_averaging_and_perturbation(model_path, tmp_path):
    folder = png_folder(tmp_path / "tta", per_class=(2, 2))
    names, plain, _ = runs.predict(model_path, folder, progress=False)
    _, flipped, _ = runs.predict(model_path, folder, tta="horizontal", progress=False)
    model = runs.load_model(model_path)
    images = np.stack([data.read_image(os.path.join(folder, n), (12, 12), 1) for n in names])
    expected = (model.predict(images) + model.predict(images[:, :, ::-1])) / 2
    np.testing.assert_allclose(flipped, expected, rtol=1e-6)
    _, perturbed, _ = runs.predict(model_path, folder, perturb=0.05, progress=False)
    predictor = inference.PerturbedPredictor(model.network, model.class_counts, epsilon=0.05)
    moved = model.network.predict(predictor.perturb(images.astype("float32") / 255), verbose=0)
    np.testing.assert_allclose(perturbed, model.probabilities(moved), rtol=1e-6)
    assert not np.allclose(perturbed, plain)


def test_bad_inputs(model_path, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        runs.predict(model_path, tmp_path / "nothing", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds none"):
        runs.predict(model_path, tmp_path / "empty", progress=False)
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 12, 12)), b=np.zeros((2, 12, 12)))
    with pytest.raises(ValueError, match="npz_key"):
        runs.predict(model_path, tmp_path / "two.npz", progress=False)
    np.savez(tmp_path / "big.npz", images=np.zeros((2, 20, 20), np.uint8))
    with pytest.raises(ValueError, match="12x12"):
        runs.predict(model_path, tmp_path / "big.npz", progress=False)
    (tmp_path / "notes.keras").write_text("not a model")
    with pytest.raises(ValueError, match="notes.keras.*not a .keras file"):
        runs.predict(tmp_path / "notes.keras", tmp_path / "big.npz", progress=False)


def test_npz_float_images_outside_unit_range_are_refused(tmp_path):
    # Float 0-255 pixels would be fed unscaled (uint8 is divided by 255, float used as is).
    from kerasimb.runs.predict import _npz_images
    np.savez(tmp_path / "f.npz", images=np.full((2, 12, 12), 200.0, np.float32))
    with pytest.raises(ValueError, match=r"`inputs`.*\[0, 1\].*max 200.*divide by 255"):
        _npz_images(str(tmp_path / "f.npz"), None)
    np.savez(tmp_path / "ok.npz", images=np.full((2, 12, 12), 0.5, np.float32))
    assert _npz_images(str(tmp_path / "ok.npz"), None).shape == (2, 12, 12, 1)


def test_explain_writes_one_overlay_per_image(model_path, tmp_path):
    folder = png_folder(tmp_path / "scans", per_class=(3, 2))
    names, probabilities, _ = runs.predict(model_path, folder, batch_size=2, progress=False,
                                           explain=tmp_path / "maps")
    model = runs.load_model(model_path)
    images = np.stack([data.read_image(os.path.join(folder, n), (12, 12), 1) for n in names])
    maps = inference.grad_cam(model, images, class_index=probabilities.argmax(axis=1))
    written = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "maps")
                     for d, _, files in os.walk(tmp_path / "maps") for f in files)
    assert written == sorted(n[:-len(".png")] + ".png" for n in names)  # left/left_000.png, ...
    for name, image, heat_map in zip(names, images, maps):
        png = np.asarray(Image.open(tmp_path / "maps" / name))
        assert png.shape == (12, 12, 3) and png.dtype == np.uint8
        # (up to a grey level: the maps were computed in other batches)
        np.testing.assert_allclose(png, inference.overlay(image, heat_map), atol=1)
    # the input gradient instead; an .npz names its overlays by index
    np.savez(tmp_path / "x.npz", images=images[:3, ..., 0])
    runs.predict(model_path, tmp_path / "x.npz", progress=False, explain=tmp_path / "grads",
                 explain_method="gradient")
    assert sorted(os.listdir(tmp_path / "grads")) == ["0.png", "1.png", "2.png"]
    gradients = inference.input_gradient(model, images[:3],
                                         class_index=probabilities[:3].argmax(axis=1))
    np.testing.assert_allclose(np.asarray(Image.open(tmp_path / "grads" / "1.png")),
                               inference.overlay(images[1], gradients[1]), atol=1)


def test_explain_names_files_that_differ_only_by_extension_apart(model_path, tmp_path):
    flat = png_folder(tmp_path / "flat", per_class=(1, 1), nested=False)
    first = sorted(os.listdir(flat))[0]
    Image.open(os.path.join(flat, first)).save(os.path.join(flat, first[:-4] + ".jpg"))
    runs.predict(model_path, flat, progress=False, explain=tmp_path / "maps")
    stem = first[:-4]
    assert sorted(os.listdir(tmp_path / "maps")) == sorted(
        [f"{stem}.jpg.png", f"{stem}.png.png", "right_000.png"])


def test_explain_refuses_a_file_and_an_unknown_method(model_path, tmp_path):
    folder = png_folder(tmp_path / "scans", per_class=(1, 1))
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ValueError, match="argument `explain`.*which is a file"):
        runs.predict(model_path, folder, progress=False, explain=tmp_path / "taken")
    with pytest.raises(ValueError, match="explain_method"):
        runs.predict(model_path, folder, progress=False, explain=tmp_path / "m",
                     explain_method="lime")


def test_cli_predict_explain(model_path, tmp_path, capsys):
    from kerasimb.cli.main import main

    folder = png_folder(tmp_path / "scans", per_class=(2, 2), nested=False)
    argv = ["predict", "--model", model_path, "--input", folder, "--output",
            str(tmp_path / "p.csv"), "--no-progress"]
    assert main(argv + ["--explain", str(tmp_path / "out" / "maps")]) == 0
    assert "wrote" in capsys.readouterr().out
    written = sorted(os.listdir(tmp_path / "out" / "maps"))
    assert written == sorted(f[:-4] + ".png" for f in os.listdir(folder))
    for name in written:
        with Image.open(tmp_path / "out" / "maps" / name) as png:
            assert png.size == (12, 12) and png.mode == "RGB"
    assert main(argv + ["--explain", str(tmp_path / "g"), "--explain-method", "gradient"]) == 0
    assert len(os.listdir(tmp_path / "g")) == 4
    capsys.readouterr()
    (tmp_path / "a_file").write_text("x")
    for extra, message in ((["--explain", str(tmp_path / "a_file")], "argument --explain: "
                                                                      "expected a folder"),
                           (["--explain-method", "gradient"], "argument --explain-method: "
                                                              "needs --explain DIR"),
                           (["--explain", str(tmp_path / "a_file" / "sub")],
                            "argument --explain: could not create")):
        assert main(argv + extra) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"kerasimb: error: {message}") and err.count("\n") == 1, err
