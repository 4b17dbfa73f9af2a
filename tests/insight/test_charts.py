"""The SVG charts are well-formed XML and never let data inject markup."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from nextorder.core.charts import BLUE, GREEN, RED, bar_chart_svg, line_chart_svg
from nextorder.crm.services import order_create

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


def test_bar_labels_that_would_run_together_are_thinned():
    """18 months on 760 px: 'May 25Jun 25…' ran together; every n-th is named, the first
    included, and every bar is still drawn."""
    months = [
        f"{m} {y}"
        for y in (25, 26)
        for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep")
    ]
    svg = bar_chart_svg(
        categories=months,
        series={"kept": [1.0] * 18, "lost": [2.0] * 18},
        title="Revenue by month",
        x_label="month",
        y_label="revenue",
        width=360,
    )
    root = ET.fromstring(svg)
    named = [t.text for t in root.iter(f"{SVG}text") if t.text in months]
    assert named[0] == months[0] and 2 <= len(named) < len(months)
    xs = [float(t.get("x")) for t in root.iter(f"{SVG}text") if t.text in months]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 6.5 * len("Jan 25")
    assert len(root.findall(f"{SVG}rect")) >= 36
    wide = ET.fromstring(
        bar_chart_svg(
            categories=months[:3],
            series={"kept": [1.0] * 3},
            title="t",
            x_label="x",
            y_label="y",
        )
    )
    assert [t.text for t in wide.iter(f"{SVG}text") if t.text in months] == months[:3]


def test_a_series_keeps_the_colour_it_is_given_in_bars_and_legend():
    svg = bar_chart_svg(
        categories=["May 25", "Jun 25"],
        series={"First orders": [1.0, 2.0], "Repeat orders": [3.0, 4.0]},
        title="Revenue",
        x_label="month",
        y_label="revenue",
        colours=(BLUE, GREEN),
    )
    root = ET.fromstring(svg)
    fills = [rect.get("fill") for rect in root.iter(f"{SVG}rect") if rect.get("fill")]
    assert fills.count(GREEN) == 3 and RED not in fills  # two bars and the legend's key


@pytest.mark.django_db
def test_repeat_revenue_is_not_drawn_in_the_red_of_lost_customers(client, make_user, customer):
    for month in (1, 2, 3):
        order_create(
            customer=customer, placed_at=datetime(2026, month, 5, tzinfo=UTC), amount=Decimal(20)
        )
    client.force_login(make_user("maria", role="manager"))
    html = client.get(reverse("insight:retention")).content.decode()
    legend = html[html.index("Revenue from first orders") :]
    assert f'fill="{GREEN}"' in legend and f'fill="{RED}"' not in legend
