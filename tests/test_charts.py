"""Server-side SVG charts (arena.charts): pure functions, no database."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from arena import charts

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script> & Co"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("viewBox", "").startswith("0 0 ")
    children = list(root)
    assert children[0].tag == f"{SVG}title" and children[0].text
    assert children[1].tag == f"{SVG}desc" and children[1].text
    labelled = root.get("aria-labelledby", "").split()
    assert labelled == [children[0].get("id"), children[1].get("id")]
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if cls in (el.get("class") or "").split()]


def all_text(root: ET.Element) -> str:
    return " ".join("".join(el.itertext()) for el in root)


def assert_escaped(svg: str, root: ET.Element) -> None:
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in svg
    assert EVIL in all_text(root)  # round-trips as text, never as markup
    assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))


def leaderboard_rows(n: int) -> list[dict]:
    return [
        {
            "rank": i + 1,
            "model": EVIL if i == 1 else f"Model {i}",
            "rating": 1200 - 11.5 * i,
            "ci_low": 1200 - 11.5 * i - 30,
            "ci_high": 1200 - 11.5 * i + 25,
            "votes": 500 - i,
            "provisional": i % 3 == 2,
            "retired": i == 4,
        }
        for i in range(n)
    ]


def winrates(n: int) -> list[list[float | None]]:
    return [[None if i == j else 1 / (1 + math.exp(j - i)) for j in range(n)] for i in range(n)]


# --------------------------------------------------------------------------- nice ticks


@pytest.mark.parametrize(
    ("lo", "hi"), [(912.3, 1187.9), (0.0, 1.0), (1000.0, 1000.0), (-3.2, 7.7), (1499.5, 1500.2)]
)
def test_nice_ticks_are_round_and_cover_range(lo, hi):
    axis_lo, axis_hi, ticks = charts.nice_ticks(lo, hi)
    assert axis_lo <= lo and axis_hi >= hi
    assert ticks[0] == axis_lo and math.isclose(ticks[-1], axis_hi)
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    mantissa = steps.pop() / 10 ** math.floor(math.log10(ticks[1] - ticks[0]))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))


# --------------------------------------------------------------------------- intervals


def test_intervals_chart_one_row_per_model_and_escaped():
    rows = leaderboard_rows(6)
    svg = charts.intervals_chart(rows, title="Overall <ranking>")
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "Overall <ranking>"
    assert len(by_class(root, "row")) == 6
    assert len(by_class(root, "point")) == 6
    assert len(by_class(root, "ci")) == 6
    assert_escaped(svg, root)
    assert "(retired)" in all_text(root)
    assert len(by_class(root, "retired")) == 1


def test_intervals_provisional_drawn_differently():
    root = parse(charts.intervals_chart(leaderboard_rows(3), title="t"))
    stable, _, provisional = by_class(root, "row")
    assert "provisional" in provisional.get("class") and "provisional" not in stable.get("class")
    point_s, point_p = by_class(stable, "point")[0], by_class(provisional, "point")[0]
    assert point_s.get("fill") != point_p.get("fill")  # hollow
    ci_s, ci_p = by_class(stable, "ci")[0], by_class(provisional, "ci")[0]
    assert ci_p.get("stroke-dasharray") and not ci_s.get("stroke-dasharray")


def test_intervals_empty_and_missing_values():
    root = parse(charts.intervals_chart([], title="Board"))
    assert "No models listed yet" in all_text(root)
    rows = leaderboard_rows(2)
    rows[0].update(ci_low=None, ci_high=float("nan"))
    root = parse(charts.intervals_chart(rows, title="Board"))
    assert len(by_class(root, "point")) == 2 and len(by_class(root, "ci")) == 1


def test_intervals_thirty_models_scale():
    root = parse(charts.intervals_chart(leaderboard_rows(30), title="Board"))
    assert len(by_class(root, "row")) == 30
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    assert height / 30 >= 20 and width >= 600


# --------------------------------------------------------------------------- matrix


def test_matrix_winrate_cells_tooltips_and_escaping():
    names = ["Alpha", EVIL, "Gamma"]
    values = winrates(3)
    values[0][2] = float("nan")
    counts = [[None, 41, 0], [41, None, 7], [0, 7, None]]
    svg = charts.matrix_chart(names, values, title="Win rates", kind="winrate", counts=counts)
    root = parse(svg)
    cells = by_class(root, "cell")
    assert len(cells) == 9
    assert_escaped(svg, root)
    tips = [cell.find(f"{SVG}title").text for cell in cells]
    pct = round(values[1][0] * 100)
    assert tips[3] == f"{EVIL} beats Alpha {pct} % of the time (41 battles)"
    texts = ["".join(cell.find(f"{SVG}text").itertext()) for cell in cells]
    assert texts[0] == texts[2] == texts[4] == "–"  # diagonal and NaN cells
    assert texts[3].rstrip("%") == str(pct)
    # diverging scale: a loss and a win get different colours, both differ from "no data"
    fills = [cell.find(f"{SVG}rect").get("fill") for cell in cells]
    assert len({fills[1], fills[3], fills[0]}) == 3


def test_matrix_count_kind_and_ragged_input():
    names = ["A", "B"]
    root = parse(charts.matrix_chart(names, [[None, 12], [12]], title="Battles", kind="count"))
    texts = ["".join(c.find(f"{SVG}text").itertext()) for c in by_class(root, "cell")]
    assert texts == ["–", "12", "12", "–"]
    with pytest.raises(ValueError):
        charts.matrix_chart(names, [[None, 1], [1, None]], title="x", kind="bogus")


def test_matrix_thirty_by_thirty_is_legible():
    names = [f"A very long generator name number {i}" for i in range(30)]
    root = parse(charts.matrix_chart(names, winrates(30), title="Win rates", kind="winrate"))
    cells = by_class(root, "cell")
    assert len(cells) == 900
    assert float(cells[0].find(f"{SVG}rect").get("width")) >= 18
    labels = [t for t in root.iter(f"{SVG}text") if t.find(f"{SVG}title") is not None]
    assert len(labels) == 60  # row + column labels, each with the full name as tooltip
    for label in labels:
        shown = "".join(label.itertext()).replace(label.find(f"{SVG}title").text, "", 1)
        assert len(shown) <= 18
    assert labels[0].find(f"{SVG}title").text == names[0]


def test_matrix_empty():
    root = parse(charts.matrix_chart([], [], title="Win rates", kind="winrate"))
    assert "No models listed yet" in all_text(root)


# --------------------------------------------------------------------------- history


def test_history_chart_lines_legend_and_single_point():
    series = {
        "Alpha": [("2024-05-01T10:00:00Z", 1000.0), ("2024-05-02T10:00:00+00:00", 1012.5)],
        EVIL: [("2024-05-01T12:00:00", 990.0), ("2024-05-03T08:30:00Z", 1030.0)],
        "Solo": [("2024-05-02T00:00:00Z", 1005.0)],
    }
    svg = charts.history_chart(series, title="History")
    root = parse(svg)
    assert_escaped(svg, root)
    groups = by_class(root, "series")
    assert len(groups) == 3 and len(by_class(root, "legend-item")) == 3
    assert [len(list(g.iter(f"{SVG}polyline"))) for g in groups] == [1, 1, 0]
    assert len(list(groups[2].iter(f"{SVG}circle"))) == 1
    colours = {next(g.iter(f"{SVG}circle")).get("fill") for g in groups}
    assert len(colours) == 3
    assert "May" in all_text(root)


def test_history_many_series_stay_distinct():
    series = {
        f"M{i}": [("2024-01-01T00:00:00Z", 1000 + i), ("2024-03-01", 990 + i)] for i in range(30)
    }
    root = parse(charts.history_chart(series, title="History"))
    styles = {
        (line.get("stroke"), line.get("stroke-dasharray")) for line in root.iter(f"{SVG}polyline")
    }
    assert len(styles) == 30


def test_history_empty_and_bad_points():
    for series in ({}, {"A": []}, {"A": [("not a date", 1000.0), ("2024-01-01", float("nan"))]}):
        root = parse(charts.history_chart(series, title="History"))
        assert "No history yet" in all_text(root)
    root = parse(charts.history_chart({"A": [("2024-01-01", 1000.0)]}, title="History"))
    assert len(by_class(root, "series")) == 1
