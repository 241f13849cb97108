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

    model_rows = [["small_cnn", "SmallCNN: 3 conv blocks + linear head, fast on CPU (default)"],
                  ["quadsnet", "QuadSNet (Ali et al., 2021): 4 conv/separable streams, "
                               "images >= 16x16"]]
    for name in sorted(models.BACKBONES):
        constructor, min_size = models.BACKBONES[name]
        model_rows.append([name, f"{constructor.__module__.split('.')[0]}.{constructor.__name__}"
                                 f", images >= {min_size}x{min_size}"])
    return {
        "datasets": [[name + ("<...>" if name.endswith(":") else ""), description]
                     for name, (_, description) in data.SOURCES.items()],
        "methods": [[name, methods.get(name).description] for name in methods.names()],
        "modifiers": ["+" + name for name in methods.registry.modifiers()],
        "models": model_rows,
        "recipes": [[name, recipes.summary(name)] for name in recipes.RECIPES],
    }


def load():
    """Reads the stored catalogue (no TensorFlow)."""
    with open(PATH, encoding="utf-8") as f:
        return json.load(f)


def write():
    """Rewrites `catalog.json` from `build()`; returns its path."""
    with open(PATH, "w", encoding="utf-8") as f:
        json.dump(build(), f, indent=1, ensure_ascii=False)
        f.write("\n")
    return PATH


if __name__ == "__main__":
    print(f"wrote {write()}")
    sys.exit(0)
