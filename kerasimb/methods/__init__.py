"""Named training methods: `methods.get("ce")`, `methods.names()`, `@methods.register(...)`."""

from kerasimb.methods import baselines  # noqa: F401  (registers "ce" and "reweight")
from kerasimb.methods import aduni  # noqa: F401  (aduni, aduni-fixed-alpha, paco)
from kerasimb.methods import losses  # noqa: F401  (focal, cb-*, ldam*, logit-adjusted, balanced-softmax)
from kerasimb.methods import perturbed  # noqa: F401  (the "+perturb" modifier: "ce+perturb", ...)
from kerasimb.methods import quadsnet  # noqa: F401  (registers "quadsnet-margin")
from kerasimb.methods import sampling  # noqa: F401  (class/sqrt/progressive sampling, drs, mixup, cutmix, remix, balanced-mixup)
from kerasimb.methods import two_stage  # noqa: F401  (ce/center/triplet/supcon -crw and -crs)
from kerasimb.methods import bbn  # noqa: F401  (registers "bbn")
from kerasimb.methods.registry import METHODS, MODIFIERS, Method, get, names, register, unregister

__all__ = ["METHODS", "MODIFIERS", "Method", "get", "names", "register", "unregister"]
