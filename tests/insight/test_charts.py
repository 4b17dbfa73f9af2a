"""The SVG charts are well-formed XML and never let data inject markup."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from nextorder.core.charts import bar_chart_svg, line_chart_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_line_chart_draws_one_polyline_per_series_and_escapes_text():
    svg = line_chart_svg(
        series={
            "actual <script>": [(1.0, 0.0), (2.0, 10.0), (3.0, 25.0)],
            "predicted & co": [(1.0, 1.0), (2.0, 11.0), (3.0, 24.0)],
        },
        title='Cumulative "repeat" <b>purchases</b>',
        x_label="week",
        y_label="purchases",
    )
    root = ET.fromstring(svg)
    assert root.get("width") == "640"
    assert len(root.findall(f"{SVG}polyline")) == 2
    texts = "".join(element.text or "" for element in root.iter(f"{SVG}text"))
    assert "actual <script>" in texts and "predicted & co" in texts
    assert "<script>" not in svg and "<b>" not in svg


def test_bar_chart_draws_one_bar_per_category_and_series():
    svg = bar_chart_svg(
        categories=["0", "1", "7+"],
        series={"actual": [0.24, 0.7, 6.4], "predicted": [0.23, 0.52, 6.2]},
        title="Hold-out purchases by calibration frequency",
        x_label="purchases in calibration",
        y_label="mean purchases in hold-out",
        width=480,
        height=240,
    )
    root = ET.fromstring(svg)
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]
    assert len(bars) == 6
    assert all(float(bar.get("y")) + float(bar.get("height")) <= 240 for bar in bars)


def test_empty_and_flat_series_still_render():
    for svg in (
        line_chart_svg(series={}, title="empty", x_label="x", y_label="y"),
        line_chart_svg(
            series={"flat": [(0.0, 0.0), (1.0, 0.0)]}, title="t", x_label="x", y_label="y"
        ),
        bar_chart_svg(categories=[], series={}, title="none", x_label="x", y_label="y"),
    ):
        ET.fromstring(svg)
