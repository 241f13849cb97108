"""`kerasimb list`: the datasets, methods, models and recipes kerasimb knows."""

from kerasimb.cli import catalog

NAME = "list"
HELP = "list datasets, methods, models and recipes"
DESCRIPTION = "List the datasets, training methods, models and paper recipes kerasimb knows."


def add_arguments(parser):
    """`kerasimb list` takes no flags."""
    return parser


def _section(title, rows):
    print(title)
    width = max((len(name) for name, _ in rows), default=0)
    for name, description in rows:
        print(f"  {name:<{width}}  {description}".rstrip())
    print()


def run(args):
    """Prints the catalogue; returns 0."""
    entries = catalog.load()
    _section("Datasets (--dataset):", entries["datasets"])
    _section("Methods (--methods):", entries["methods"])
    print(f"  modifiers: <method>{', <method>'.join(entries['modifiers'])}\n")
    _section("Models (--backbone):", entries["models"])
    _section("Recipes (kerasimb run <recipe>):", entries["recipes"])
    return 0
