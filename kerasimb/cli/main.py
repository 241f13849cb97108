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
dataset that does not load, an output folder that is a file or holds other settings) prints one
line `kerasimb: error: <message>` and exits with status 2, before any training; Ctrl-C prints one
line saying how to resume and exits with status 130. TensorFlow's C++ and absl log lines are
hidden unless `--tf-logs`.
"""

import contextlib
import os
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


def main(argv=None):
    """Runs the `kerasimb` command with `argv` (defaults to `sys.argv[1:]`); returns the exit
    status (0, 2 for a usage error, 130 when interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
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


if __name__ == "__main__":
    sys.exit(main())
