"""Shards of a comparison: which (method, seed) runs shard K of N trains.

The partition is static, so that N processes started on N machines agree on it without talking
to each other: run `i` of the ordered list of runs (methods in the order given, each with every
seed) belongs to shard `(i % N) + 1`. Shards are numbered from 1 (`--shard 1/3` ... `--shard
3/3`); a Kubernetes indexed Job, whose indices start at 0, passes its index + 1.

Example:

>>> runs = [(m, s) for m in ("ce", "focal") for s in (0, 1, 2)]
>>> shard_runs(runs, (1, 3))
[('ce', 0), ('focal', 0)]
>>> shard_runs(runs, "3/3")
[('ce', 2), ('focal', 2)]
"""

import numbers

from kerasimb.api_export import kerasimb_export

__all__ = ["check_shard", "shard_runs", "shard_text"]


def _invalid(shard):
    return ValueError(
        "Invalid value received for argument `shard`. Expected `None` or (K, N) with 1 <= K <= "
        f"N (shard K of N, numbered from 1), or the text 'K/N'. Received: shard={shard!r}")


@kerasimb_export("kerasimb.runs.check_shard", serializable=False)
def check_shard(shard):
    """Returns `shard` as a tuple `(K, N)` of ints with 1 <= K <= N, or `None` for `None`.

    Accepts a pair of integers or the text `"K/N"`.

    >>> check_shard("2/3"), check_shard((1, 1)), check_shard(None)
    ((2, 3), (1, 1), None)
    >>> check_shard((0, 3))
    Traceback (most recent call last):
    ...
    ValueError: Invalid value received for argument `shard`. Expected `None` or (K, N) with 1 <= K <= N (shard K of N, numbered from 1), or the text 'K/N'. Received: shard=(0, 3)
    """
    if shard is None:
        return None
    value = shard
    if isinstance(value, str):
        parts = value.strip().split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise _invalid(shard)
        value = tuple(int(p) for p in parts)
    try:
        k, n = value
    except (TypeError, ValueError):
        raise _invalid(shard) from None
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (k, n)):
        raise _invalid(shard)
    if not 1 <= k <= n:
        raise _invalid(shard)
    return int(k), int(n)


@kerasimb_export("kerasimb.runs.shard_runs", serializable=False)
def shard_runs(runs, shard):
    """The items of `runs` that shard `shard` = (K, N) trains: those at positions `i` with
    `i % N == K - 1`, in order. `shard=None`: all of them.

    >>> shard_runs(["a", "b", "c", "d", "e"], (2, 2))
    ['b', 'd']
    """
    runs = list(runs)
    shard = check_shard(shard)
    if shard is None:
        return runs
    k, n = shard
    return [run for i, run in enumerate(runs) if i % n == k - 1]


def shard_text(shard):
    """`"K/N"`.

    >>> shard_text((2, 3))
    '2/3'
    """
    return f"{shard[0]}/{shard[1]}"
