"""The papers' figures beside ours (issue 17): `kerasimb.recipes.paper`'s rendering, every
recipe's `PAPER_TABLES` (well-formed; each value found in its paper's table when the papers'
texts are at hand), `reproduce`'s paper lines, and no text left saying the tables are missing."""

import json
import os
import re

import pytest

from kerasimb import methods
from kerasimb.recipes import RECIPES, load, paper, reproduce

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAPERS = os.environ.get("KERASIMB_PAPERS",
                        os.path.join(os.path.dirname(os.path.dirname(ROOT)), "shared", "papers"))
if not os.path.isdir(PAPERS):
    PAPERS = "/work/shared/papers"

TABLE = {
    "source": "Table 9 of Someone et al., 2099",
    "setting": "a made-up dataset",
    "scale": 100,
    "metrics": {"mcr": "MCR", "scr": "SCR"},
    "rows": {"CE": {"mcr": "80.00", "scr": "50.00"}, "CE+ours": {"mcr": "82.50"},
             "RS": {"mcr": "70.00", "scr": "40.00"}},
    "ours": {"CE": {"where": {"method": "ce"}, "field": "without"},
             "CE+ours": {"where": {"method": "ce"}, "field": "with"},
             "RS": {"where": {"method": "rs"}, "field": "without"}},
    "prefer": {"backbone": "resnet50"},
    "baseline": {"CE+ours": "CE"},
}
RUNS = [{"method": "ce", "backbone": "small_cnn", "seed": s,
         "without": {"mcr": m, "scr": 0.4}, "with": {"mcr": m + 0.1, "scr": 0.5}}
        for s, m in enumerate((0.6, 0.7))]


def test_rendering_puts_the_paper_beside_ours_row_by_row():
    text = paper.table_markdown(TABLE, RUNS)
    assert text.splitlines()[0] == (
        "**Table 9 of Someone et al., 2099** — the paper's setting: a made-up dataset. The paper "
        "prints percentages; they are divided by 100 here to match our fractions (as printed "
        "in brackets).")
    assert ("| paper's row | ours: runs | metric | paper (their data) | ours (mean ± std, n) | "
            "vs baseline row: paper | vs baseline row: ours | direction |") in text
    assert "ours − paper" not in text  # their data, not ours: no difference is printed
    # ours: mean ± sample std of (0.6, 0.7) and (0.7, 0.8); effects by hand: paper 82.5 − 80
    # = +0.025, ours 0.75 − 0.65 = +0.100, the same direction.
    for row in ("| CE | method=ce [without] on small_cnn | MCR | 0.8000 (80.00) | "
                "0.650 ± 0.071 (n=2) | baseline |  |  |",
                "| CE | method=ce [without] on small_cnn | SCR | 0.5000 (50.00) | "
                "0.400 ± 0.000 (n=2) | baseline |  |  |",
                "| CE+ours | method=ce [with] on small_cnn | MCR | 0.8250 (82.50) | "
                "0.750 ± 0.071 (n=2) | +0.025 (vs CE) | +0.100 | same |"):
        assert row in text, row
    assert "CE+ours | method=ce [with] on small_cnn | SCR" not in text  # the paper prints none
    assert text.splitlines()[-1] == "Rows of this table not run here: RS."
    section = paper.side_by_side([TABLE], RUNS, note="This run: tiny.")
    assert section.startswith("## The paper's figures beside ours\n")
    assert "This run: tiny." in section and "setting" in section


def test_prefer_narrows_to_the_papers_backbone_when_it_was_run():
    runs = RUNS + [{"method": "ce", "backbone": "resnet50", "seed": 0,
                    "without": {"mcr": 0.81, "scr": 0.5}, "with": {"mcr": 0.9, "scr": 0.6}}]
    rows = {(c["row"], c["metric"]): c for c in paper.compare(TABLE, runs)}
    assert rows["CE", "mcr"]["ours"]["mean"] == pytest.approx(0.81)
    assert rows["CE", "mcr"]["n"] == 1 and rows["CE", "mcr"]["baseline"] is None
    assert rows["CE+ours", "mcr"]["ours"]["mean"] == pytest.approx(0.9)
    assert rows["CE+ours", "mcr"]["ours_effect"] == pytest.approx(0.9 - 0.81)
    assert rows["CE+ours", "mcr"]["paper_effect"] == pytest.approx(0.025)
    assert rows["RS", "mcr"]["n"] == 0 and rows["RS", "mcr"]["ours_effect"] is None
    assert "None of this table's rows was run here" in paper.table_markdown(TABLE, [])


def _known_methods(name, module):
    """The method labels a recipe's own runs carry."""
    known = set(methods.names())
    for attr in ("BASELINES", "LOSSES", "STAGE2", "ROWS", "METHODS", "CHOICES"):
        for item in getattr(module, attr, ()) or ():
            known.update(item if isinstance(item, tuple) else (item,))
    known.update(getattr(module, "DISPLAY", {}).values())
    if name == "aduni":  # the sampler rows, relabelled for the report
        known.update(module.paper_label(f"AdUni + {suffix}", None)
                     for _, suffix, _, _ in module.SAMPLERS)
    if hasattr(module, "method_rows"):  # rows keyed by the recipe's own labels
        from recipe_runner import recipe_parser

        known.update(module.method_rows(recipe_parser(name).parse_args([])))
    return known


@pytest.mark.parametrize("name", RECIPES)
def test_paper_tables_are_well_formed(name):
    module = load(name)
    tables = getattr(module, "PAPER_TABLES", [])
    for table in tables:
        assert re.match(r"(Table|TABLE) [0-9IVX]+ of ", table["source"]), table["source"]
        assert table["setting"] and table["scale"] in (1, 100)
        assert table["metrics"] and table["rows"] and table["ours"]
        assert set(table["ours"]) <= set(table["rows"]), table["source"]
        for row, values in table["rows"].items():
            assert set(values) <= set(table["metrics"]), (table["source"], row)
            for text in values.values():
                assert isinstance(text, str) and 0 <= float(text) / table["scale"] <= 1
        known = _known_methods(name, module)
        for row, side in table["ours"].items():
            sel = paper.selector(side)
            # `runs.compare` labels a repeated method with its changed parameters: "x(alpha=0.2)"
            method = str(sel["where"].get("method")).split("(")[0]
            assert method in known, (row, sel)


def _paper_files():
    """`{recipe: paper text}` from the papers folder's README."""
    with open(os.path.join(PAPERS, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    out = {}
    for line in readme.splitlines():
        found = re.match(r"\| (\S+\.txt) \|.*recipes/(\w+)\.py", line)
        if found:
            with open(os.path.join(PAPERS, found.group(1)), encoding="utf-8") as f:
                out[found.group(2)] = f.read()
    return out


@pytest.mark.skipif(not os.path.isdir(PAPERS), reason="the papers' texts are not at hand")
@pytest.mark.parametrize("name", RECIPES)
def test_paper_values_are_printed_in_the_papers_table(name):
    """Each row's values, as transcribed, stand on one line of the paper's text, in the order
    of the table's metrics, among the tab-separated rows next to the caption of the table the
    source names."""
    text = _paper_files()[name]
    for table in getattr(load(name), "PAPER_TABLES", []):
        number = re.match(r"(?:Table|TABLE) ([0-9IVX]+) ", table["source"]).group(1)
        caption = re.search(rf"^(?:\*\*)?(?:Table|TABLE) {number}[.:]", text, re.M)
        assert caption, table["source"]
        # A caption may stand above its table or, as some extractions have it, below it.
        before = text[:caption.start()].splitlines()[-30:]
        lines = [l for l in before + text[caption.start():].splitlines()[:60] if "\t" in l]
        for row, values in table["rows"].items():
            order = [values[m] for m in table["metrics"] if m in values]
            assert any(_in_order(line, order) for line in lines), (table["source"], row, order)


# What may stand around a number in an extracted table cell: tabs, spaces, brackets, markup
# (<b>79.61</b>, \textbf{0.782}, $0.841\pm...).
NUMBER_BEFORE, NUMBER_AFTER = r"(^|[\t (>${])", r"($|[\t <$}\\])"


def _in_order(line, values):
    """Every value stands in `line` as a whole cell number, one after the other."""
    position = 0
    for value in values:
        found = re.compile(NUMBER_BEFORE + re.escape(value) + NUMBER_AFTER).search(line,
                                                                                 position)
        if not found:
            return False
        position = found.end() - 1
    return True


def test_no_text_says_the_papers_tables_are_missing():
    phrases = ("could not be retrieved", "not placed beside ours", "no figure is invented")
    paths = [os.path.join(ROOT, "README.md")] + [
        os.path.join(ROOT, "kerasimb", "recipes", f) for f in os.listdir(
            os.path.join(ROOT, "kerasimb", "recipes")) if f.endswith(".py")]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for phrase in phrases:
            assert phrase not in text, (path, phrase)


def test_direction_compares_signs_and_says_nothing_without_both():
    assert paper.direction(0.02, 0.1) == "same" and paper.direction(-0.02, -0.1) == "same"
    assert paper.direction(0.02, -0.1) == "opposite"
    assert paper.direction(None, 0.1) == paper.direction(0.02, 0.0) == ""


def test_a_table_without_a_baseline_prints_no_effect_columns():
    table = {key: value for key, value in TABLE.items() if key != "baseline"}
    text = paper.table_markdown(table, RUNS)
    assert "direction" not in text
    assert "| CE | method=ce [without] on small_cnn | MCR | 0.8000 (80.00) | " \
           "0.650 ± 0.071 (n=2) |" in text.splitlines()


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_measures_rows_against_a_baseline_row_of_the_table(name):
    for table in getattr(load(name), "PAPER_TABLES", []):
        rows = [row for row in table["rows"] if paper.baseline_of(table, row)]
        assert rows or len(table["rows"]) <= 2, table["source"]
        for row in rows:
            assert paper.baseline_of(table, row) in table["rows"]


def test_two_stage_rows_are_measured_against_ce_with_the_same_stage_2():
    """Zeng et al.'s claim is about the stage-1 loss: CE+SC → cRW against CE → cRW."""
    table = load("metric_learning").PAPER_TABLES[0]
    assert paper.baseline_of(table, "CE+SC → cRW") == "CE → cRW"
    assert paper.baseline_of(table, "Focal → cRW") == "CE → cRW"
    assert paper.baseline_of(table, "CE → cRW") == "CE"
    assert paper.baseline_of(table, "CE → cRS") == "CE"
    assert paper.baseline_of(table, "CE") is None
    effects = {(r["row"], r["metric"]): r["paper_effect"] for r in paper.compare(table, [])}
    assert effects["CE+SC → cRW", "balanced_accuracy"] == pytest.approx(0.8643 - 0.8411)


def test_reproduce_shows_the_papers_figures_and_the_effects(tmp_path):
    runs = [{"method": "ce", "backbone": "small_cnn", "seed": s,
             "without": {"mcr": 0.6 + s / 100, "scr": 0.3},
             "with": {"mcr": 0.7 + s / 100, "scr": 0.5}} for s in range(3)]
    folder = tmp_path / "perturbed_inference"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"runs": runs}))
    claim = reproduce.claims(["perturbed_inference"])[0]
    result = reproduce.check_claim(claim, str(folder))
    rows = {(r["source"], r["side"], r["metric"]): r for r in result["paper_rows"]}
    first = "Table 2 of Chen et al., MICCAI 2021, Skin7 columns, ResNet50 block"
    assert rows[first, "method", "mcr"]["paper"] == pytest.approx(0.8642)
    assert rows[first, "baseline", "mcr"]["ours"] == pytest.approx(0.61)
    assert "gap" not in rows[first, "baseline", "mcr"]
    text = reproduce.report_markdown([result])
    assert f"- paper's figures beside ours, from {first} (" in text
    assert ("  - `mcr`, method (paper's row CE+ours): paper (their data) 0.8642, ours "
            "0.710 ± 0.010 (n=3)") in text
    assert "ours − paper" not in text
    # 86.42 − 84.54 = +1.88 points; ours 0.71 − 0.61
    assert "  - `mcr`, method − baseline: paper +0.019, ours +0.100 (same direction)" in text
