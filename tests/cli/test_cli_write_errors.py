"""A full disk or an unwritable folder in the middle of a command: one line, exit status 2, the
runs finished before kept (a rerun resumes), never a traceback or a crash of the interpreter."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from kerasimb.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _argv(folder):
    return ["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
            "reweight", "--epochs", "1", "--seeds", "0", "--batch-size", "64", "--no-progress",
            "--output", str(folder)]


def _fail_writes(monkeypatch, code, when):
    """`os.replace` (every atomic write's last step) fails with `code` for destinations for
    which `when(path)` holds."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if when(os.fspath(dst)):
            raise OSError(code, os.strerror(code), os.fspath(src))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def test_disk_full_during_a_run_exits_2_keeping_the_finished_runs(tmp_path, monkeypatch,
                                                                 capsys):
    folder = tmp_path / "run"
    _fail_writes(monkeypatch, errno.ENOSPC, lambda path: f"{os.sep}reweight{os.sep}" in path)
    assert main(_argv(folder)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: "), err
    assert "No space left on device" in err and "reweight" in err, err
    assert f"rerun the same command to resume from {folder}" in err, err
    assert (folder / "runs" / "ce" / "seed0.json").is_file()  # finished before: kept
    monkeypatch.undo()
    assert main(_argv(folder)) == 0  # resumes: ce loaded, reweight trained
    assert (folder / "confusion_reweight.png").is_file()


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.EDQUOT])
def test_unwritable_report_exits_2_with_one_line(code, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "run"
    _fail_writes(monkeypatch, code, lambda path: path.endswith("report.md"))
    assert main(_argv(folder)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: "), err
    assert os.strerror(code) in err and "report.md" in err, err
    assert (folder / "runs" / "reweight" / "seed0.json").is_file()


def test_other_os_errors_are_not_hidden(tmp_path, monkeypatch):
    _fail_writes(monkeypatch, errno.EIO, lambda path: path.endswith("report.md"))
    with pytest.raises(OSError, match="Input/output error"):
        main(_argv(tmp_path / "run"))


def test_file_too_large_in_hdf5_exits_2_without_crashing(tmp_path):
    """A write the file system refuses inside HDF5 (a model backup) leaves an HDF5 file object
    that crashes the interpreter's teardown (segmentation fault, exit 139): the command must
    end with one line and status 2 instead. RLIMIT_FSIZE makes any file over 100 kB fail with
    EFBIG, as a full disk fails with ENOSPC."""
    script = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
        sys.argv = ["kerasimb", *{_argv(tmp_path / "run")!r}]  # as the command: TF quiet
        from kerasimb.cli.main import main
        sys.exit(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, timeout=300)
    err = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, err[-2000:])
    assert err.count("\n") == 0 and err.startswith("kerasimb: error: "), err[-2000:]
    assert "File too large" in err and "weights.h5" in err, err
