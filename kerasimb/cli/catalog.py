"""What `kerasimb list` shows, kept in `catalog.json` beside this file so that the listing
needs no TensorFlow.

The names and descriptions come from the library's registries (datasets, methods and their
modifiers, models, recipes); `build()` reads them there, `load()` reads the stored copy. A test
checks that the two agree: after adding or renaming a method, model, dataset or recipe, rewrite
the file with

    python -m kerasimb.cli.catalog
"""

import json
import os
import sys

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.json")


def build():
    """Reads the catalogue from the library's registries (imports the library)."""
    from kerasimb import data, methods, models, recipes

    def rows(registry, suffix=lambda name: ""):
        return [[name + suffix(name),
                 description + (f" (also: {', '.join(aliases)})" if aliases else "")]
                for name, aliases, description in registry.describe()]

    return {
        "datasets": rows(data.DATASETS, lambda name: "<...>" if name.endswith(":") else ""),
        "methods": rows(methods.METHODS),
        "modifiers": ["+" + name for name in methods.MODIFIERS.names()],
        "models": rows(models.MODELS),
        "recipes": [[name, recipes.summary(name)] for name in recipes.RECIPES],
    }


def load():
    """Reads the stored catalogue (no TensorFlow)."""
    with open(PATH, encoding="utf-8") as f:
        return json.load(f)


def write():
    """Rewrites `catalog.json` from `build()`; returns its path."""
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"  # built before the file
    with open(PATH, "w", encoding="utf-8") as f:  # is opened: a failure leaves it as it was
        f.write(text)
    return PATH


if __name__ == "__main__":
    print(f"wrote {write()}")
    sys.exit(0)
