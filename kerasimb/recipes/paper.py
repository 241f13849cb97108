"""The papers' own figures beside ours: each recipe's `PAPER_TABLES`, rendered row by row.

A recipe module declares `PAPER_TABLES`, a list of tables transcribed from its paper, each a dict:

- `source`: where the numbers are printed, e.g. `"Table 2 of Chen et al., MICCAI 2021"`;
- `setting`: what the paper measured them on (dataset, backbone, image size, epochs, weights);
- `scale`: the paper's scale over ours: `100` when it prints percentages (ours are fractions),
  `1` when it prints fractions;
- `metrics`: `{our metric key: the paper's column name}`;
- `rows`: `{paper row label: {our metric key: value as printed (a string)}}`; the values are
  kept as printed so that a test can find each one in the paper's text;
- `ours`: `{paper row label: selector}`, the runs of the recipe's `metrics.json` that the row
  corresponds to, in `kerasimb reproduce`'s claim form (`{"where": {key: value}, "field":
  name}`, the field defaulting to `"report"`);
- `prefer` (optional): `{key: value}`; when some selected runs have these values, only those are
  compared (e.g. the paper's backbone when the recipe ran it), else all are, and the cell says
  which runs they were;
- `baseline` (optional): the paper row each row is measured against, one label for the whole
  table or `{row: baseline row}`.

The paper's figures were measured on its data (rarely ours), so no report prints "ours minus the
paper's" as if the two measured one task: the paper's figure stands beside ours as "paper (their
data)", and what can be compared is a method's effect within one table, row minus baseline row,
in the paper and in our runs, and whether the two point the same way.

`side_by_side(tables, runs)` returns the markdown section a report prints; `compare(table, runs)`
the rows as data, which `kerasimb reproduce` also uses.
"""

from kerasimb.utils.formatting import format_stat, mean_std

TITLE = "The paper's figures beside ours"


def table(source, setting, metrics, rows, methods, scale=1, **extra):
    """A `PAPER_TABLES` entry from printed figures: `rows` is `{paper row: values as printed,
    in the order of metrics}`, `methods` `{paper row: the method label of our runs}` (each row
    is compared with the runs whose `method` is that label); `extra` adds keys such as
    `prefer`.

    >>> entry = table("Table 1 of X", "its setting", {"accuracy": "Acc"}, {"CE": ("0.84",)},
    ...               {"CE": "ce"})
    >>> entry["rows"], entry["ours"]
    ({'CE': {'accuracy': '0.84'}}, {'CE': {'where': {'method': 'ce'}}})
    """
    return {"source": source, "setting": setting, "scale": scale, "metrics": metrics,
            "rows": {label: dict(zip(metrics, values)) for label, values in rows.items()},
            "ours": {label: {"where": {"method": methods[label]}} for label in rows},
            **extra}


def selector(side):
    """A row's selector in full form: `{"where": {...}, "field": ...}`."""
    if isinstance(side, str):
        return {"where": {"method": side}, "field": "report"}
    return {"where": dict(side.get("where", {})), "field": side.get("field", "report")}


def paper_value(table, row, metric):
    """The paper's printed figure of `row` and `metric` on our scale, or `None` if not printed."""
    text = table["rows"].get(row, {}).get(metric)
    if text is None:
        return None
    return float(text) / table.get("scale", 1)


def select_runs(table, row, runs):
    """The records of `runs` that `row`'s selector picks (narrowed by the table's `prefer` when
    some selected records match it)."""
    sel = selector(table["ours"][row])
    chosen = [r for r in runs if isinstance(r, dict)
              and all(r.get(k) == v for k, v in sel["where"].items())
              and isinstance(r.get(sel["field"]), dict)]
    prefer = table.get("prefer") or {}
    preferred = [r for r in chosen if all(r.get(k) == v for k, v in prefer.items())]
    return preferred if prefer and preferred else chosen


def baseline_of(table, row):
    """The paper row that `row` is measured against in `table` (`None`: no baseline, or `row`
    is it, or the baseline is not among the table's rows)."""
    base = table.get("baseline")
    base = base.get(row) if isinstance(base, dict) else base
    return base if base in table["rows"] and base != row else None


def compare(table, runs):
    """`[{"row", "metric", "paper", "ours", "n", "runs", "baseline", "paper_effect",
    "ours_effect"}]` for every mapped row and metric the paper prints: `paper` on our scale,
    `ours` as `mean_std` of the selected runs' values (`n` 0 when none), `runs` the distinct
    backbones (or methods) the values came from; `baseline` the row's baseline row
    (`baseline_of`), `paper_effect` the paper's row − baseline figure and `ours_effect` our
    mean's (`None` where either side is missing)."""
    out = []
    field_of = {row: selector(side)["field"] for row, side in table["ours"].items()}
    means = {}
    for row in table["ours"]:
        chosen = select_runs(table, row, runs)
        for metric in table["metrics"]:
            paper = paper_value(table, row, metric)
            if paper is None:
                continue
            stat = mean_std([r[field_of[row]].get(metric) for r in chosen])
            means[row, metric] = stat["mean"]
            where = sorted({str(r.get("backbone", r.get("model", ""))) for r in chosen} - {""})
            out.append({"row": row, "metric": metric, "paper": paper, "ours": stat,
                        "n": stat["n"], "runs": where, "baseline": baseline_of(table, row)})
    for c in out:
        base = c["baseline"]
        theirs = None if base is None else paper_value(table, base, c["metric"])
        c["paper_effect"] = None if theirs is None else c["paper"] - theirs
        mine = means.get((base, c["metric"]))
        c["ours_effect"] = (None if mine is None or c["ours"]["mean"] is None
                            else c["ours"]["mean"] - mine)
    return out


def signed(value):
    """`+0.012` / `−0.034` (a true minus sign), `n/a` for `None`."""
    return "n/a" if value is None else f"{value:+.3f}".replace("-", "\u2212")


def direction(paper_effect, ours_effect):
    """`"same"` when the paper's effect and ours have one sign, `"opposite"` when not, `""`
    when either is missing or zero."""
    if not paper_effect or not ours_effect:
        return ""
    return "same" if (paper_effect > 0) == (ours_effect > 0) else "opposite"


def table_markdown(table, runs):
    """One table's markdown: its source and setting, then `| paper's row | ours: runs | metric
    | paper (their data; on our scale, as printed in brackets when that differs) | ours |` per
    mapped row and metric that was run, and, when the table has a `baseline`, each row's
    effect (row − baseline) in the paper and in ours and whether they point the same way (the
    rows not run are named below it)."""
    scale = table.get("scale", 1)
    effects = table.get("baseline") is not None
    header = "| paper's row | ours: runs | metric | paper (their data) | ours (mean ± std, n) |"
    if effects:
        header += " vs baseline row: paper | vs baseline row: ours | direction |"
    lines = [f"**{table['source']}** — the paper's setting: {table['setting']}."
             + (f" The paper prints percentages; they are divided by {scale:g} here to match "
                "our fractions (as printed in brackets)." if scale != 1 else ""), "",
             header, "|---" * header.count(" | ") + "|---|"]
    comparisons = compare(table, runs)
    for c in comparisons:
        if not c["n"]:
            continue
        sel = selector(table["ours"][c["row"]])
        ours_from = ", ".join(f"{k}={v}" for k, v in sel["where"].items())
        if sel["field"] != "report":
            ours_from += f" [{sel['field']}]"
        if c["runs"]:
            ours_from += f" on {', '.join(c['runs'])}"
        ours = f"{format_stat(c['ours'])} (n={c['n']})"
        printed = table["rows"][c["row"]][c["metric"]]
        theirs = f"{c['paper']:.4f}" + (f" ({printed})" if scale != 1 else "")
        cells = [c["row"], ours_from, table["metrics"][c["metric"]], theirs, ours]
        if effects:
            if c["baseline"] is None:
                cells += ["baseline" if c["row"] in _baselines(table) else "", "", ""]
            else:
                cells += [f"{signed(c['paper_effect'])} (vs {c['baseline']})",
                          signed(c["ours_effect"]),
                          direction(c["paper_effect"], c["ours_effect"])]
        lines.append("| " + " | ".join(cells) + " |")
    missing = list(dict.fromkeys(c["row"] for c in comparisons if not c["n"]))
    if len(missing) == len(table["ours"]):
        lines = lines[:2] + ["None of this table's rows was run here: "
                             f"{', '.join(missing)}."]
    elif missing:
        lines += ["", f"Rows of this table not run here: {', '.join(missing)}."]
    return "\n".join(lines)


def _baselines(table):
    base = table.get("baseline")
    return set(base.values()) if isinstance(base, dict) else {base}


def side_by_side(tables, runs, note=""):
    """The report section: heading, the caveat that settings differ, each table."""
    lines = [f"## {TITLE}", "",
             "Each row of the paper's table that this recipe runs, beside our figure for the "
             "same method and metric on this run's test split. The paper's figures come from "
             "its own data and setting (dataset, image size, epochs, pretrained weights, "
             "backbone: the line above each table), so they are no target for ours and no "
             "difference between the two is printed. The comparable part is a method's effect "
             "within one table: each row minus the table's baseline row, in the paper and in "
             "our runs, and whether the two point the same way (`direction`)."
             + (f" {note}" if note else ""), ""]
    for table in tables:
        lines += [table_markdown(table, runs), ""]
    return "\n".join(lines)


def claim_rows(tables, claim, runs):
    """The comparisons of `tables` for a `reproduce` claim: the rows whose selector is the
    claim's method or baseline selector, for the claim's metrics. Returns `[(side, table,
    comparison)]`, side `"method"` or `"baseline"`."""
    out = []
    for side in ("method", "baseline"):
        target = selector(claim[side])
        for table in tables:
            rows = [row for row, s in table["ours"].items() if selector(s) == target]
            for c in compare(table, runs):
                if c["row"] in rows and c["metric"] in claim["metrics"]:
                    out.append((side, table, c))
    return out
