"""The `kerasimb` command: the parser, the dispatch to one module per command, and how it ends.

    kerasimb list                      # datasets, methods, models, recipes
    kerasimb compare                   # the default methods on digits-lt, ~2 minutes on a CPU
    kerasimb train --method ldam-drw --dataset folder:scans --image-size 224 \\
        --backbone mobilenetv2 --output runs/ldam
    kerasimb evaluate --model runs/ldam/model.keras --dataset folder:scans
    kerasimb predict --model runs/ldam/model.keras --input new_scans/ --output preds.csv
    kerasimb run balanced_mixup --dataset medmnist:pneumoniamnist --epochs 10
    kerasimb tune --methods ce focal --max-trials 8
    kerasimb reproduce --budget small

How it ends: 0 on success; a mistake the command can detect (a bad flag, an unknown name, a
dataset that does not load, an output folder that is a file or holds another experiment) prints
one line `kerasimb: error: <message>` and exits with status 2, before any training; Ctrl-C prints
one line saying how to resume and exits with status 130. A write the file system refuses during
a command (full disk, quota, file size limit, no permission, read-only file system) also ends it
with one line naming the file and status 2 (the user can fix it): the runs finished before are
already in the output folder, and rerunning the same command resumes from them. As the
`kerasimb` command (`main()` with no `argv`) the process then ends at once (`os._exit(2)`, after
flushing stdout and stderr): a half-written HDF5 file left open by the failed write would crash
the interpreter's teardown (a segmentation fault, exit 139, after a page of traceback). Other
`OSError`s are not hidden. TensorFlow's C++ and absl log lines are hidden unless `--tf-logs`.
"""

import contextlib
import errno
import os
import re
import sys

from kerasimb.cli import compare, evaluate, predict, reproduce, run, train, tune
from kerasimb.cli import list as list_command
from kerasimb.cli.args import Parser, UsageError
from kerasimb.version import __version__

COMMANDS = (list_command, compare, train, evaluate, predict, run, tune, reproduce)


def build_parser():
    """Returns the `kerasimb` argument parser (one sub-parser per command module)."""
    parser = Parser(prog="kerasimb",
                    description="Keras parts for class-imbalanced medical image classification.")
    parser.add_argument("--version", action="version", version=f"kerasimb {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=Parser)
    for module in COMMANDS:
        sub = commands.add_parser(module.NAME, help=module.HELP,
                                  description=module.DESCRIPTION)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


@contextlib.contextmanager
def _stderr_to_devnull():
    """Sends file descriptor 2 to /dev/null (C++ libraries write there directly)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow(show_logs=False):
    """Imports TensorFlow with its C++ and absl log lines hidden (unless `show_logs`).

    TensorFlow prints several lines when its libraries load and when it first looks for
    devices, before its own log level applies; they go to file descriptor 2, so they are sent
    to /dev/null during the import and the device lookup. Later C++ lines are hidden by
    `TF_CPP_MIN_LOG_LEVEL=3` (unless the environment sets another level) and absl's Python
    logging is set to errors only. Python warnings and errors are not affected.
    """
    if show_logs or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def _interrupted(args):
    """The line printed on Ctrl-C: how to resume, when the command has an output folder."""
    output = getattr(args, "output", None)
    if not output:
        return "kerasimb: interrupted"
    how = "the same command" if getattr(args, "output_given", True) else \
        f"the same command with --output {output}"
    return f"kerasimb: interrupted; rerun {how} to resume from {output}"


# A write the file system refused (the same as `kerasimb.utils.atomic.WRITE_ERRNOS`, which is
# not imported here: it would load TensorFlow before the arguments are parsed).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM,
                          errno.EROFS})


def _write_error(error, args):
    """The line printed when the file system refused a write: what, which file, what to do."""
    text = os.strerror(error.errno)
    if error.filename is not None:
        text += f": could not write {os.fsdecode(error.filename)}"
    output = getattr(args, "output", None)
    fix = ("free some space" if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
           else "make the folder writable")
    if output:
        text += (f"; the runs finished before are kept: {fix} and rerun the same command to "
                 f"resume from {output}")
    return text


def _refused_write_errno(error):
    """The errno of a refused write that `error` reports, or `None`. HDF5's errors carry it in
    their text (`... errno = 28, error message = 'No space left on device' ...`)."""
    code = getattr(error, "errno", None)
    if code in WRITE_ERRNOS:
        return code
    found = re.search(r"errno = (\d+)", str(error))
    return int(found.group(1)) if found and int(found.group(1)) in WRITE_ERRNOS else None


@contextlib.contextmanager
def _quiet_refused_writes():
    """Drops the tracebacks printed for objects released after a refused write (h5py's file
    objects of a half-written weights file fail to flush again when Python frees them while
    the error propagates, and Cython reports that through `sys.excepthook` and
    `sys.unraisablehook`): the command ends with its one line."""
    previous_unraisable, previous_except = sys.unraisablehook, sys.excepthook

    def unraisable_hook(unraisable):
        if _refused_write_errno(unraisable.exc_value) is None:
            previous_unraisable(unraisable)

    def except_hook(kind, value, traceback):
        if _refused_write_errno(value) is None:
            previous_except(kind, value, traceback)

    sys.unraisablehook, sys.excepthook = unraisable_hook, except_hook
    try:
        yield
    finally:
        sys.unraisablehook, sys.excepthook = previous_unraisable, previous_except


def _end_now(status):
    """Ends the process at once with `status`, after flushing stdout and stderr (no
    interpreter teardown: see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def main(argv=None):
    """Runs the `kerasimb` command with `argv` (defaults to `sys.argv[1:]`); returns the exit
    status (0, 2 for a usage error or a refused write, 130 when interrupted).

    Called with no `argv` (as the `kerasimb` command and `python -m kerasimb` are), a refused
    write ends the process with `os._exit(2)` after its one line instead of returning.
    """
    command = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    with _quiet_refused_writes():
        return _main(argv, command)


def _main(argv, command):
    args = None
    try:
        args = build_parser().parse_args(argv)
        if args.command != "list":
            quiet_tensorflow(show_logs="--tf-logs" in argv)
        return args.run(args)
    except SystemExit as e:  # --help and --version
        return e.code if isinstance(e.code, int) else 0
    except (UsageError, ValueError, TypeError) as e:
        print(f"kerasimb: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{_interrupted(args)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `kerasimb list | head`: the reader has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        print(f"kerasimb: error: {_write_error(e, args)}", file=sys.stderr)
        if command:  # before `e` (and the objects its traceback holds) is released
            _end_now(2)
        return 2
    except Exception as e:  # TensorFlow's error for a file-backed image that failed to decode
        text = _undecodable_image(e, args)
        if text is None:
            raise
        print(f"kerasimb: error: {text}", file=sys.stderr)
        return 2


_UNDECODABLE = re.compile(r"Could not read or decode image file (.+?) \((missing, unreadable[^)]*)\)")


def _undecodable_image(error, args):
    """The line printed when a file-backed training image failed to decode in the middle of
    training (`tf.errors.InvalidArgumentError` from `data.ImageFiles`), or `None` for any other
    error."""
    found = _UNDECODABLE.search(str(error))
    if found is None:
        return None
    text = (f"a training image could not be decoded: {found.group(1)} ({found.group(2)}); "
            "remove or replace it, or add --verify-images to check every file before training")
    output = getattr(args, "output", None)
    if output:
        text += f"; the runs finished before are kept: rerun the same command to resume from {output}"
    return text


if __name__ == "__main__":
    sys.exit(main())
