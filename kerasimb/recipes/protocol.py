"""Each paper's training protocol as data: the recipes' defaults, their budgets and the report's
"Protocol" table (the paper's setting beside this run's, every departure named).

A recipe declares `PROTOCOL = Protocol(...)`: what its paper trained with, in the terms of the
shared run flags (`optimizer`, `learning_rate`, `momentum`, `weight_decay`, `lr_schedule`,
`lr_warmup_epochs`, `lr_floor`, `batch_size`, `augment`, `epochs`, `image_size`, `backbone`,
`weights`, and `folds` where the paper cross-validates), plus the settings the flags cannot
say, as text. The training configuration (optimizer, schedule, batch size, augmentation) is the
recipe's default at every budget; a budget (`--budget small|paper`) only sets the epochs, the
image size and, where the paper's model is too slow for minutes on a CPU, the model. Light at
import (no TensorFlow): the command line's parsers use it.

Example:

>>> p = Protocol("Paper et al., §3", {"optimizer": "sgd", "learning_rate": 0.1,
...              "batch_size": 64, "epochs": 100, "image_size": 224},
...              budgets={"small": {"epochs": 10}, "paper": {"epochs": 100, "image_size": 224}})
>>> sorted(p.defaults())
['batch_size', 'epochs', 'learning_rate', 'optimizer']
>>> p.defaults()["epochs"]
10
"""

BUDGET_NAMES = ("small", "paper")

# The run flags a protocol may set (the keys of `kerasimb.cli.args.add_run_arguments`' defaults).
TRAINING_KEYS = ("optimizer", "learning_rate", "momentum", "nesterov", "weight_decay",
                 "lr_schedule", "lr_warmup_epochs", "lr_floor", "batch_size", "augment")
SCALED_KEYS = ("epochs", "image_size", "backbone", "lr_warmup_epochs", "seeds")
PAPER_ONLY_KEYS = ("weights", "folds")
KEYS = TRAINING_KEYS + SCALED_KEYS + PAPER_ONLY_KEYS

__all__ = ["BUDGET_NAMES", "Protocol", "add_budget_argument", "budget_defaults"]


class Protocol:
    """A paper's training protocol.

    Args:
        source: str. Where it is stated, e.g. `"§2.4 of Galdran et al., MICCAI 2021"`.
        paper: dict. The paper's settings in the run flags' terms (keys of `KEYS`); `weights`
            is `"imagenet"` or `None`, `folds` the paper's number of cross-validation folds.
        notes: dict `{item: text}` of what the flags cannot say (the paper's model selection,
            test-time augmentation, image pipeline, ...), shown in the paper's column; an item
            that is also a key replaces that key's rendering.
        budgets: dict `{budget: {key: value}}` for `BUDGET_NAMES`: what each budget sets (only
            `SCALED_KEYS`). `"small"` is the default budget.

    Raises:
        ValueError: an unknown key, or a budget setting something other than `SCALED_KEYS`.
    """

    def __init__(self, source, paper, notes=None, budgets=None):
        unknown = sorted(set(paper) - set(KEYS))
        if unknown:
            raise ValueError(f"Invalid value received for argument `paper`. Expected keys among "
                             f"{list(KEYS)}. Received: {unknown}")
        budgets = {name: dict((budgets or {}).get(name, {})) for name in BUDGET_NAMES}
        for name, settings in budgets.items():
            bad = sorted(set(settings) - set(SCALED_KEYS))
            if bad:
                raise ValueError(f"Invalid value received for argument `budgets`. A budget only "
                                 f"sets {list(SCALED_KEYS)}; budget {name!r} sets {bad}")
        self.source = source
        self.paper = dict(paper)
        self.notes = dict(notes or {})
        self.budgets = budgets

    def defaults(self, budget="small"):
        """The run flags' defaults at `budget`: the paper's training configuration, then what
        the budget sets."""
        out = {k: v for k, v in self.paper.items() if k in TRAINING_KEYS}
        out.update(self.budgets[budget])
        return out

    def rows(self, args, extra=()):
        """The report's rows `(item, paper, this run)` for the run flags in `args`.

        Args:
            args: the recipe's parsed flags.
            extra: more `(item, paper, this run)` rows (model selection, test-time augmentation,
                the second stage, ...), appended in order; a fourth element, a bool, says
                whether the two agree where their words differ.
        """
        from kerasimb.methods.optimization import describe_training
        from kerasimb.recipes.flags import optimizer_text, training_text

        p = self.paper
        paper_training = describe_training({
            "optimizer": p.get("optimizer", "adam"), "momentum": p.get("momentum"),
            "nesterov": p.get("nesterov", False), "weight_decay": p.get("weight_decay"),
            "lr_schedule": p.get("lr_schedule", "constant"),
            "warmup_epochs": p.get("lr_warmup_epochs", 0), "lr_floor": p.get("lr_floor", 0.0),
        }, p.get("learning_rate", 1e-3))
        backbones = getattr(args, "backbones", None) or getattr(args, "models", None) or [
            getattr(args, "backbone", None)]
        folds = getattr(args, "folds", None)
        ours_split = (f"{folds}-fold stratified cross-validation" if folds else
                      f"{len(args.seeds)} seed{'s' * (len(args.seeds) != 1)} on fixed splits")
        paper_split = (f"{p['folds']}-fold stratified cross-validation" if p.get("folds")
                       else "fixed splits")
        rows = [
            ("model", self.notes.get("model", p.get("backbone", "")),
             ", ".join(str(b) for b in backbones if b)),
            ("pretrained weights", self.notes.get("pretrained weights",
                                                  _weights_text(p.get("weights"))),
             _weights_text(getattr(args, "weights", None))),
            ("image size", self.notes.get("image size", _size_text(p.get("image_size"))),
             _size_text(getattr(args, "image_size", None), own=True)),
            ("epochs", self.notes.get("epochs", str(p.get("epochs", "not stated"))),
             str(args.epochs)),
            ("batch size", str(p.get("batch_size", "")), str(args.batch_size)),
            ("optimizer and schedule", paper_training, optimizer_text(args)),
            ("augmentation", self.notes.get("augmentation", _augment_text(p.get("augment"))),
             training_text(args)),
            ("evaluation", self.notes.get("evaluation", paper_split), ours_split),
        ]
        return rows + [tuple(r) for r in extra]

    def section(self, args, budget="small", extra=(), heading="## Protocol"):
        """Markdown lines: the paper's protocol beside this run's, a departure marked "≠"."""
        lines = [heading, "",
                 f"The paper's protocol ({self.source}) beside this run's, budget `{budget}` "
                 "(`--budget paper` trains at the paper's epochs and image size). Rows marked ≠ "
                 "depart from the paper.", "",
                 "| | paper | this run |", "|---|---|---|"]
        for item, paper, ours, *same in self.rows(args, extra):
            agree = same[0] if same else _same(paper, ours)
            mark = "" if agree else " ≠"
            lines.append(f"| {item}{mark} | {paper} | {ours} |")
        return lines + [""]


def _same(paper, ours):
    return str(paper).strip().lower() == str(ours).strip().lower()


def _weights_text(weights):
    if weights is None:
        return "none (random initialisation)"
    return "ImageNet" if weights == "imagenet" else "a local weights file"


def _size_text(size, own=False):
    if size is None:
        return "the dataset's own" if own else "not stated"
    return f"{size}×{size}"


def _augment_text(augment):
    from kerasimb.runs.report import AUGMENT_TEXT

    if augment in (None, "none"):
        return "no augmentation"
    return AUGMENT_TEXT.get(augment, augment)


def add_budget_argument(parser, protocol):
    """Adds `--budget small|paper` to a recipe's parser (see `budget_defaults`)."""
    parser.add_argument("--budget", default="small", choices=BUDGET_NAMES,
                        help="small: the paper's training configuration at a few epochs and "
                             "the dataset's image size (minutes on a CPU); paper: the paper's "
                             "epochs, image size and model (default: %(default)s)")
    return parser


def budget_defaults(protocol, budget):
    """The defaults `--budget` sets on the parser before the flags are read again (explicit
    flags win)."""
    return dict(protocol.budgets[budget])
