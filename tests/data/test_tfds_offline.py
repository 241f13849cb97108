"""`tfds:<name> --download` without a network fails within seconds, with one line, after a short
connection check (`utils.check_connection`), instead of after minutes of download retries; the
network is used only with `download=True`."""

import socket
import time

import pytest

from kerasimb.cli.main import main
from kerasimb.data.tfds_loader import load_tfds

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture
def offline(monkeypatch):
    """No connection can be opened, and a download attempt is an error of the test."""
    probes = []

    def unreachable(address, *args, **kwargs):
        probes.append(address)
        raise OSError("[Errno 101] Network is unreachable")

    def no_download(self, *args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    return probes


def test_download_without_network_fails_at_once(offline, tmp_path):
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"`mnist` needs the network.*cannot be reached.*"
                                              r"tfds build mnist"):
        load_tfds("mnist", data_dir=str(tmp_path), download=True)
    assert time.perf_counter() - start < 10 and len(offline) == 1


def test_no_network_use_without_download(offline, tmp_path):
    with pytest.raises(FileNotFoundError, match="not prepared"):
        load_tfds("mnist", data_dir=str(tmp_path))
    assert offline == []


def test_cli_download_without_network_exits_2_with_one_line(offline, tmp_path, capsys):
    argv = ["compare", "--dataset", "tfds:mnist", "--data-dir", str(tmp_path), "--download",
            "--methods", "ce", "--output", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: argument --dataset:"), err
    assert "needs the network" in err and "cannot be reached" in err, err


def test_builder_needing_a_missing_package_is_a_value_error(monkeypatch):
    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'huggingface_hub'")

    monkeypatch.setattr(tfds, "builder", missing)
    with pytest.raises(ValueError, match="needs a package that is not installed.*huggingface_hub"):
        load_tfds("huggingface:mnist")
