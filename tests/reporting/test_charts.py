"""The SVG charts read back as XML: bars as tall as their values, gaps where there is no data, negative months below
the zero line, escaped labels, round axis ticks, and the same chart legible in a WeasyPrint PDF."""

import shutil
import subprocess
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting.charts import (
    AGING_COLORS,
    Series,
    aging_bar,
    bar_chart,
    format_value,
    line_chart,
    nice_ticks,
    pareto_chart,
    share_bars,
    sparkline,
)

SVG = "{http://www.w3.org/2000/svg}"
MONTHS = ["Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026", "May 2026", "Jun 2026"]


def parse(svg) -> ET.Element:
    return ET.fromstring(str(svg))


def marks(root: ET.Element, tag: str, css: str | None = None) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}{tag}") if css is None or css in el.get("class", "").split()]


def texts(root: ET.Element, css: str | None = None) -> list[str]:
    return ["".join(el.itertext()) for el in marks(root, "text", css)]


def title_and_desc(root: ET.Element) -> tuple[str, str]:
    return root.find(f"{SVG}title").text, root.find(f"{SVG}desc").text


def zero_line_y(root: ET.Element) -> float:
    (line,) = marks(root, "line", "chart-zero")
    return float(line.get("y1"))


# ---------------------------------------------------------------- ticks and formats


def test_nice_ticks_of_a_rate_up_to_95_3_percent_run_in_quarters_to_one():
    assert nice_ticks(0, Decimal("0.953")) == [0, Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), 1]


def test_nice_ticks_of_12345_dollars_run_in_fives_of_thousands_to_15000():
    assert nice_ticks(0, 12345) == [0, 5000, 10000, 15000]


def test_nice_ticks_cover_a_negative_month_below_zero():
    assert nice_ticks(Decimal("-2100.50"), Decimal("26789.12")) == [-10000, 0, 10000, 20000, 30000]


def test_nice_ticks_of_nothing_run_from_zero_to_one():
    assert nice_ticks(0, 0) == [0, Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), 1]


@given(st.decimals(min_value=-10**9, max_value=10**9, places=2), st.decimals(min_value=-10**9, max_value=10**9,
                                                                             places=2))
def test_nice_ticks_always_cover_the_range_in_three_to_five_round_steps(low, high):
    ticks = nice_ticks(low, high)
    steps = {b - a for a, b in zip(ticks, ticks[1:], strict=False)}
    (step,) = steps
    assert 3 <= len(ticks) <= 5
    assert ticks[0] <= min(low, high) and ticks[-1] >= max(low, high)
    assert step.normalize().as_tuple().digits in ((1,), (2,), (2, 5), (5,))


@pytest.mark.parametrize(("value", "y_format", "axis", "text"), [
    (Decimal("12345.675"), "money", False, "$12,345.68"),
    (Decimal("12345"), "money", True, "$12,345"),
    (Decimal("-2100.5"), "money", False, "-$2,100.50"),
    (Decimal("0.953"), "percent", False, "95.3 %"),
    (Decimal("0.25"), "percent", True, "25 %"),
    (Decimal("34.25"), "days", False, "34.3 d"),
    (1234, "number", False, "1,234"),
    (Decimal("3.40"), "number", False, "3.4"),
    (None, "money", False, "no data"),
])
def test_values_read_as_money_percent_days_and_numbers(value, y_format, axis, text):
    assert format_value(value, y_format, axis=axis) == text


# ---------------------------------------------------------------- bar chart


def test_bar_heights_are_proportional_to_their_values_to_a_tenth_of_a_pixel():
    values = [Decimal("12345.67"), Decimal("15000.00"), Decimal("4000.10"), Decimal("9.99")]
    root = parse(bar_chart(MONTHS[:4], values, y_format="money"))
    bars = marks(root, "rect", "chart-bar")
    heights = [float(bar.get("height")) for bar in bars]
    pixels_per_dollar = heights[1] / 15000
    for height, value in zip(heights, values, strict=True):
        assert abs(height - float(value) * pixels_per_dollar) < 0.1
    assert [bar.get("data-value") for bar in bars] == ["12345.67", "15000.00", "4000.10", "9.99"]


def test_a_month_without_data_is_a_gap_marked_n_a_not_a_zero_bar():
    root = parse(bar_chart(MONTHS[:3], [100, None, 300], y_format="number"))
    assert [bar.get("data-label") for bar in marks(root, "rect", "chart-bar")] == ["Jan 2026", "Mar 2026"]
    assert texts(root, "chart-gap") == ["n/a"]
    assert "Feb 2026 no data" in title_and_desc(root)[1]


def test_a_reversal_month_draws_its_bar_below_the_zero_line():
    root = parse(bar_chart(MONTHS[:3], [Decimal("5000"), Decimal("-2100.50"), Decimal("3000")], y_format="money"))
    zero = zero_line_y(root)
    positive, negative, _third = marks(root, "rect", "chart-bar")
    assert abs(float(positive.get("y")) + float(positive.get("height")) - zero) < 0.01
    assert abs(float(negative.get("y")) - zero) < 0.01
    assert abs(float(negative.get("height")) / float(positive.get("height")) - 2100.5 / 5000) < 0.001
    assert "-$2,100.50" in texts(root, "chart-value")
    assert texts(root, "chart-tick") == ["-$2,500", "$0", "$2,500", "$5,000"]


def test_highlight_last_sets_the_latest_bar_apart():
    root = parse(bar_chart(MONTHS[:3], [1, 2, 3], highlight_last=True))
    fills = [bar.get("fill") for bar in marks(root, "rect", "chart-bar")]
    assert fills[0] == fills[1] != fills[2]


def test_many_x_labels_are_thinned_and_the_latest_always_shows():
    weeks = [f"W{number:02d}" for number in range(1, 53)]
    root = parse(bar_chart(weeks, list(range(1, 53)), title="Visits per week"))
    shown = texts(root, "chart-xlabel")
    assert 4 <= len(shown) < 52
    assert shown[-1] == "W52"


# ---------------------------------------------------------------- line chart


def test_a_line_breaks_where_a_month_has_no_data():
    rates = [Decimal("0.91"), Decimal("0.93"), None, Decimal("0.953"), Decimal("0.96"), Decimal("0.97")]
    root = parse(line_chart(MONTHS, [Series("Clean claim rate", rates)], y_format="percent", target=Decimal("0.95"),
                            title="Clean claim rate"))
    lines = marks(root, "polyline", "chart-series")
    assert [len(line.get("points").split()) for line in lines] == [2, 3]
    assert len(marks(root, "circle", "chart-point")) == 5
    assert texts(root, "chart-target-label") == ["Target 95.0 %"]
    assert texts(root, "chart-value") == ["97.0 %"]
    assert "Mar 2026 no data; Apr 2026 95.3 %" in title_and_desc(root)[1]


def test_a_rate_in_a_narrow_band_gets_an_axis_that_shows_its_trend():
    rates = [Decimal("0.91"), Decimal("0.93"), Decimal("0.97")]
    root = parse(line_chart(MONTHS[:3], [Series("Clean claim rate", rates)], y_format="percent"))
    assert texts(root, "chart-tick")[0] != "0 %"
    forced = parse(line_chart(MONTHS[:3], [Series("Clean claim rate", rates)], y_format="percent", zero_based=True))
    assert texts(forced, "chart-tick")[0] == "0 %"


def test_two_series_get_a_legend_with_their_names():
    root = parse(line_chart(MONTHS[:2], [Series("Billed", [1, 2]), Series("Paid", [1, None])], y_format="money"))
    assert texts(root, "chart-legend") == ["Billed", "Paid"]


def test_a_series_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="series 'Paid' has 1 values for 2 labels"):
        line_chart(MONTHS[:2], [Series("Paid", [1])])


# ---------------------------------------------------------------- empty and all-zero inputs


@pytest.mark.parametrize("draw", [
    lambda: line_chart([], [], title="Denial rate"),
    lambda: line_chart(MONTHS[:2], [Series("Rate", [None, None])], title="Denial rate"),
    lambda: bar_chart([], [], title="Denial rate"),
    lambda: bar_chart(MONTHS[:3], [0, Decimal("0.00"), None], y_format="money", title="Denial rate"),
    lambda: pareto_chart([], [], title="Denial rate"),
    lambda: pareto_chart(["CO-45"], [0], title="Denial rate"),
    lambda: share_bars([], [], title="Denial rate"),
    lambda: share_bars(["Aetna", "Medicaid"], [0, 0], title="Denial rate"),
    lambda: aging_bar({}, title="Denial rate"),
    lambda: aging_bar({"0-30": Decimal("0.00"), "31-60": None}, title="Denial rate"),
])
def test_empty_and_all_zero_inputs_draw_a_no_data_chart(draw):
    root = parse(draw())
    assert root.get("role") == "img"
    assert title_and_desc(root)[0] == "Denial rate"
    (message,) = texts(root, "chart-empty")
    assert message.startswith("No data")
    assert not marks(root, "rect", "chart-bar") and not marks(root, "polyline")


def test_a_rate_of_zero_every_month_is_a_line_on_the_zero_axis_not_no_data():
    root = parse(line_chart(MONTHS[:2], [Series("Rate", [0, 0])], y_format="percent", title="Denial rate"))
    assert not texts(root, "chart-empty")
    assert marks(root, "polyline")


def test_a_sparkline_without_data_is_a_dashed_rule():
    root = parse(sparkline([None, None], title="Days in A/R"))
    assert marks(root, "line", "chart-empty")
    assert title_and_desc(root)[1] == "Days in A/R: no data."


# ---------------------------------------------------------------- safety and accessibility


def test_labels_and_titles_with_markup_characters_are_escaped():
    label = '<script>alert("x")</script> & Co'
    svg = str(bar_chart([label, "B"], [1, 2], title="Payer <&> mix"))
    root = parse(svg)
    assert "<script>" not in svg
    assert marks(root, "rect", "chart-bar")[0].get("data-label") == label
    assert title_and_desc(root)[0] == "Payer <&> mix"
    assert texts(root, "chart-title") == ["Payer <&> mix"]
    for draw in (share_bars, pareto_chart):
        assert "<script>" not in str(draw([label], [5], title="<b>"))
    assert "<script>" not in str(aging_bar({label: 5}, title="<b>"))
    assert "<script>" not in str(line_chart([label], [Series(label, [1])], title="<b>"))


def test_a_chart_is_an_image_whose_title_and_desc_state_the_numbers():
    root = parse(bar_chart(MONTHS[:2], [Decimal("12345.67"), Decimal("800")], y_format="money",
                           title="Payments per month"))
    title, desc = title_and_desc(root)
    assert root.get("role") == "img"
    ids = {el.get("id") for el in root if el.get("id")}
    assert set(root.get("aria-labelledby").split()) == ids
    assert desc == "Payments per month. Jan 2026 $12,345.67; Feb 2026 $800.00."


def test_the_chart_scales_in_html_and_has_a_fixed_size_in_print():
    responsive = parse(bar_chart(["A"], [1], width=500, height=200))
    fixed = parse(bar_chart(["A"], [1], width=500, height=200, responsive=False))
    assert (responsive.get("viewBox"), responsive.get("width"), responsive.get("height")) == (
        "0 0 500 200", "100%", None)
    assert (fixed.get("width"), fixed.get("height")) == ("500", "200")


# ---------------------------------------------------------------- pareto, shares, aging, sparkline


def test_pareto_sorts_reasons_largest_first_and_sums_the_tail_into_other():
    codes = ["CO-16", "CO-45", "CO-97", "PR-1", "CO-18"]
    root = parse(pareto_chart(codes, [3, 40, 20, None, 2], top=3, title="Denial reasons"))
    bars = marks(root, "rect", "chart-bar")
    assert [(bar.get("data-label"), bar.get("data-value")) for bar in bars] == [
        ("CO-45", "40"), ("CO-97", "20"), ("Other", "5")]
    cumulative = [Decimal(point.get("data-value")) for point in marks(root, "circle", "chart-point")]
    assert [round(share, 4) for share in cumulative] == [Decimal("0.6154"), Decimal("0.9231"), 1]
    assert "100 %" in texts(root, "chart-tick-right")


def test_share_bars_give_each_payer_its_percentage_of_the_total():
    root = parse(share_bars(["Aetna", "Medicaid", "Self-pay"], [Decimal("250"), Decimal("750"), None],
                            title="Payer mix"))
    assert texts(root, "chart-value") == ["75.0 %  ($750.00)", "25.0 %  ($250.00)", "no data"]
    medicaid, aetna = marks(root, "rect", "chart-bar")
    assert abs(float(aetna.get("width")) * 3 - float(medicaid.get("width"))) < 0.1


def test_aging_paints_older_buckets_warmer_and_states_the_total():
    buckets = {"0-30": Decimal("600.00"), "31-60": Decimal("200.00"), "61-90": Decimal("100.00"),
               "91-120": Decimal("50.00"), "120+": Decimal("50.00")}
    root = parse(aging_bar(buckets, bucket_labels={"120+": "Over 120 days"}))
    segments = marks(root, "rect", "chart-segment")
    assert [segment.get("fill") for segment in segments] == list(AGING_COLORS)
    widths = [float(segment.get("width")) for segment in segments]
    assert abs(sum(widths) - 640) < 0.05 and abs(widths[0] - 384) < 0.05
    assert texts(root, "chart-label")[-1] == "Over 120 days"
    assert texts(root, "chart-total") == ["Total $1,000.00"]
    assert "Over 120 days 5.0 %  ($50.00)" in title_and_desc(root)[1]


def test_a_sparkline_breaks_at_a_gap_and_dots_the_latest_value():
    root = parse(sparkline([1, 2, None, 3, 4], title="Clean claims", width=100, height=30))
    assert len(marks(root, "polyline")) == 2
    (last,) = marks(root, "circle", "chart-last")
    assert (float(last.get("cx")), float(last.get("cy"))) == (97.0, 3.0)
    assert not marks(root, "text")


# ---------------------------------------------------------------- print


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="poppler-utils is not installed")
def test_charts_in_a_weasyprint_pdf_carry_their_titles_and_values_as_text(tmp_path):
    from weasyprint import HTML

    payments = bar_chart(MONTHS[:3], [Decimal("12345.67"), Decimal("15000"), Decimal("-250.5")], y_format="money",
                         title="Payments per month", responsive=False)
    aging = aging_bar({"0-30": Decimal("900"), "120+": Decimal("100")}, title="A/R aging")
    html = f"<html><body><h1>Monthly report</h1>{payments}<div>{aging}</div></body></html>"
    pdf = tmp_path / "report.pdf"
    HTML(string=html).write_pdf(pdf)
    text = " ".join(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())
    for words in ("Payments per month", "$15,000.00", "-$250.50", "A/R aging", "Total $1,000.00"):
        assert words in text
    subprocess.run(["pdftoppm", "-png", "-r", "30", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    assert (tmp_path / "page.png").stat().st_size > 2000
