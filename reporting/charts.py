"""Charts drawn on the server as SVG, so the dashboard (HTML) and the monthly PDF (WeasyPrint) show one picture.

Every function here is pure: numbers in, safe SVG markup out, no database and no JavaScript. A chart carries
`role="img"` with a <title> and a <desc> that states its numbers in words for screen readers; the title and the
value labels are also drawn as text, so `pdftotext` finds them in the PDF. Styling uses presentation attributes
only (the CSP forbids inline style). Values may be Decimal, int or None: None means "no data" and is drawn as a
gap, never as zero. Colours come from the Okabe–Ito palette, which stays distinct for colour-blind readers and
in print.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe

__all__ = [
    "AGING_COLORS", "OKABE_ITO", "SERIES_COLORS", "Series", "aging_bar", "bar_chart", "format_value", "line_chart",
    "nice_ticks", "pareto_chart", "share_bars", "sparkline",
]

Value = Decimal | int | float | None

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
SERIES_COLORS = tuple(OKABE_ITO[name] for name in (
    "blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "black"))
# A/R aging from young to old, cool to warm: the eye goes to the money that is slipping away.
AGING_COLORS = tuple(OKABE_ITO[name] for name in ("blue", "sky_blue", "yellow", "orange", "vermillion"))
# Text drawn on a filled shape: white only where the contrast holds.
_TEXT_ON = {OKABE_ITO["blue"]: "#ffffff", OKABE_ITO["black"]: "#ffffff"}
NEGATIVE_COLOR = OKABE_ITO["vermillion"]
LIGHT_BAR = OKABE_ITO["sky_blue"]
INK, MUTED, GRID, ZERO_LINE = "#222222", "#555555", "#d9d9d9", "#777777"

FONT_SIZE = 11
TITLE_SIZE = 13
LABEL_SIZE = 10
_CHAR_EM = 0.6  # average advance of DejaVu Sans / Arial, in em, for laying out text without measuring it
FORMATS = ("money", "percent", "number", "days")
_LABEL_DECIMALS = {"money": 2, "percent": 1, "days": 1}


@dataclass(frozen=True)
class Series:
    """One line of a line chart. `color` defaults to the next palette colour; `css_class` is added to its marks."""

    name: str
    values: Sequence[Value]
    color: str | None = None
    css_class: str = ""


# ---------------------------------------------------------------- numbers


def _dec(value: Value) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(str(value))


def format_value(value: Value, y_format: str = "number", *, axis: bool = False, decimals: int | None = None) -> str:
    """Text of one value: money "$12,345.67" (axis "$12,345"), percent from a fraction "95.3 %", days "34.2 d",
    number "1,234" (decimals only when it has them). None reads "no data"."""
    if y_format not in FORMATS:
        raise ValueError(f"y_format must be one of {', '.join(FORMATS)}, not {y_format!r}")
    number = _dec(value)
    if number is None:
        return "no data"
    if y_format == "percent":
        number *= 100
    if decimals is None:
        decimals = 0 if axis else _LABEL_DECIMALS.get(y_format, _own_decimals(number))
    rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    body = f"{abs(rounded):,.{decimals}f}"
    return {"money": f"{sign}${body}", "percent": f"{sign}{body} %", "days": f"{sign}{body} d"}.get(
        y_format, f"{sign}{body}")


def _own_decimals(number: Decimal) -> int:
    return min(2, max(0, -number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).normalize().as_tuple().exponent))


def _axis_decimals(step: Decimal, y_format: str) -> int:
    if y_format == "percent":
        step *= 100
    places = max(0, -step.normalize().as_tuple().exponent)
    return 2 if y_format == "money" and places else places


def nice_ticks(low: Value, high: Value, *, max_ticks: int = 5) -> list[Decimal]:
    """Evenly spaced round ticks (steps of 1, 2, 2.5 or 5 times a power of ten) that cover [low, high] in at most
    `max_ticks` (at least 3) values: (0, 0.953) -> 0, 0.25, ... 1.00; (0, 12345) -> 0, 5000, 10000, 15000."""
    lo, hi = _dec(low) or Decimal(0), _dec(high) or Decimal(0)
    lo, hi = min(lo, hi), max(lo, hi)
    if lo == hi:
        lo, hi = (Decimal(0), Decimal(1)) if lo == 0 else (min(lo, Decimal(0)), max(hi, Decimal(0)))
    raw = (hi - lo) / 4
    exponent = raw.adjusted()
    for power in range(exponent, exponent + 3):
        for mantissa in (1, 2, Decimal("2.5"), 5):
            step = Decimal(mantissa).scaleb(power)
            if step < raw:
                continue
            first = (lo / step).to_integral_value(rounding=ROUND_FLOOR)
            last = (hi / step).to_integral_value(rounding=ROUND_CEILING)
            if last - first + 1 <= max(max_ticks, 3):
                return [(first + index) * step for index in range(int(last - first) + 1)]
    raise AssertionError("a step of ten times the span always fits")  # pragma: no cover


# ---------------------------------------------------------------- markup


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attrs(attrs: dict) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = "class" if key == "class_" else key.replace("_", "-")
        shown = _num(value) if isinstance(value, float) else str(value)
        parts.append(f' {name}="{escape(shown)}"')
    return "".join(parts)


def _el(tag: str, *children: str, **attrs) -> str:
    if not children:
        return f"<{tag}{_attrs(attrs)}/>"
    return f"<{tag}{_attrs(attrs)}>{''.join(children)}</{tag}>"


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int | None = None, **attrs) -> str:
    return _el("text", escape(text), x=float(x), y=float(y), text_anchor=None if anchor == "start" else anchor,
               font_size=size, **attrs)


def _tip(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _text_px(text: str, size: int = FONT_SIZE) -> float:
    return len(text) * size * _CHAR_EM


def _fit(text: str, max_px: float, size: int = FONT_SIZE) -> str:
    room = int(max_px // (size * _CHAR_EM))
    if len(text) <= room:
        return text
    return text[:max(room - 1, 1)] + "…"


def _svg(kind: str, title: str, desc: str, width: int, height: float, responsive: bool, body: list[str]) -> SafeString:
    ident = "chart-" + hashlib.sha1(f"{kind}\n{title}\n{desc}".encode(), usedforsecurity=False).hexdigest()[:10]
    size = {"width": "100%"} if responsive else {"width": width, "height": _num(height)}
    head = _attrs({"xmlns": "http://www.w3.org/2000/svg", "viewBox": f"0 0 {width} {_num(height)}", **size,
                   "role": "img", "aria-labelledby": f"{ident}-t {ident}-d", "class_": f"chart chart-{kind}",
                   "font-family": "sans-serif", "font-size": FONT_SIZE, "fill": INK})
    parts = [f"<svg{head}>", f'<title id="{ident}-t">{escape(title)}</title>',
             f'<desc id="{ident}-d">{escape(desc)}</desc>', *body, "</svg>"]
    # Safe because every piece of text above went through escape().
    return mark_safe("".join(parts))


def _title_row(title: str, show: bool) -> tuple[list[str], float]:
    """The drawn title and the y where the content below it starts."""
    if not show or not title:
        return [], 6.0
    return [_text(0, 15, title, size=TITLE_SIZE, font_weight="bold", class_="chart-title")], 24.0


def _no_data(kind: str, title: str, desc: str, *, width: int, height: float, responsive: bool, show_title: bool,
             message: str) -> SafeString:
    body, top = _title_row(title, show_title)
    body.append(_el("rect", x=0.5, y=top + 0.5, width=float(width - 1), height=float(max(height - top - 1, 1)),
                    fill="none", stroke=GRID, stroke_dasharray="4 3"))
    body.append(_text(width / 2, top + (height - top) / 2 + 4, message, anchor="middle", size=TITLE_SIZE,
                      fill=MUTED, class_="chart-empty"))
    return _svg(kind, title, desc, width, height, responsive, body)


def _empty_message(values: list[Decimal | None], y_format: str) -> str | None:
    """Why there is nothing to draw, or None when there is."""
    present = [value for value in values if value is not None]
    if not present:
        return "No data"
    if all(value == 0 for value in present):
        return f"No data: every value is {format_value(0, y_format)}"
    return None


def _pairs_in_words(labels: Sequence[str], values: Sequence[Decimal | None], y_format: str) -> str:
    return "; ".join(f"{label} {format_value(value, y_format)}" for label, value in zip(labels, values, strict=True))


# ---------------------------------------------------------------- plot area with a value axis


@dataclass
class _Plot:
    left: float
    top: float
    right: float
    bottom: float
    lo: float
    hi: float
    count: int

    @property
    def band(self) -> float:
        return (self.right - self.left) / max(self.count, 1)

    def x(self, index: int) -> float:
        return self.left + self.band * (index + 0.5)

    def y(self, value: Decimal | float) -> float:
        return self.bottom - (float(value) - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)


def _value_axis(values: list[Decimal], y_format: str, *, zero_based: bool = True) -> tuple[list[Decimal], list[str]]:
    low, high = min(values), max(values)
    ticks = nice_ticks(min(low, Decimal(0)), max(high, Decimal(0))) if zero_based else nice_ticks(low, high)
    decimals = _axis_decimals(ticks[1] - ticks[0], y_format)
    return ticks, [format_value(tick, y_format, axis=True, decimals=decimals) for tick in ticks]


def _plot(*, width: int, height: float, top: float, ticks: list[Decimal], tick_text: list[str], count: int,
          right_margin: float = 12) -> _Plot:
    left = max(28.0, max(_text_px(text) for text in tick_text) + 10)
    return _Plot(left=left, top=top, right=width - right_margin, bottom=height - 20, lo=float(ticks[0]),
                 hi=float(ticks[-1]), count=count)


def _grid(plot: _Plot, ticks: list[Decimal], tick_text: list[str]) -> list[str]:
    marks = []
    for tick, text in zip(ticks, tick_text, strict=True):
        y = plot.y(tick)
        zero = tick == 0
        marks.append(_el("line", x1=plot.left, x2=plot.right, y1=y, y2=y, stroke=ZERO_LINE if zero else GRID,
                         stroke_width=1.2 if zero else 1, class_="chart-zero" if zero else "chart-grid"))
        marks.append(_text(plot.left - 6, y + 4, text, anchor="end", fill=MUTED, class_="chart-tick"))
    return marks


def _thin(count: int, capacity: int) -> list[int]:
    """Indices of the x labels to draw: all when they fit, else every k-th counted back from the latest."""
    if count <= max(capacity, 1):
        return list(range(count))
    step = math.ceil(count / max(capacity, 1))
    return [index for index in range(count) if (count - 1 - index) % step == 0]


def _x_labels(plot: _Plot, labels: Sequence[str]) -> list[str]:
    widest = max((_text_px(label) for label in labels), default=0)
    shown = _thin(len(labels), int((plot.right - plot.left) // (min(widest, 90) + 8)))
    room = plot.band * (shown[1] - shown[0] if len(shown) > 1 else len(labels)) - 4
    return [_text(plot.x(index), plot.bottom + 14, _fit(labels[index], room), anchor="middle", fill=MUTED,
                  class_="chart-xlabel") for index in shown]


def _legend(items: list[tuple[str, str, str]], *, x: float, y: float) -> list[str]:
    """(kind, colour, name) with kind "line", "dash" or "box", laid out left to right on one row."""
    marks = []
    for kind, color, name in items:
        if kind == "box":
            marks.append(_el("rect", x=x, y=y - 8, width=10.0, height=10.0, fill=color))
        else:
            marks.append(_el("line", x1=x, x2=x + 14, y1=y - 3, y2=y - 3, stroke=color, stroke_width=2.5,
                             stroke_dasharray="5 3" if kind == "dash" else None))
        marks.append(_text(x + 18, y + 1, name, class_="chart-legend"))
        x += 18 + _text_px(name) + 16
    return marks


def _check_lengths(labels: Sequence, values: Sequence, what: str) -> None:
    if len(values) != len(labels):
        raise ValueError(f"{what} has {len(values)} values for {len(labels)} labels")


# ---------------------------------------------------------------- line chart


def line_chart(labels: Sequence[str], series: Sequence[Series], *, y_format: str = "number", target: Value = None,
               title: str = "Trend", width: int = 640, height: int = 220, responsive: bool = True,
               show_title: bool = True, zero_based: bool | None = None) -> SafeString:
    """A trend per period: one line per Series (None leaves a gap), the latest value of each labelled, an optional
    dashed target line. Several series get a legend. The value axis starts at zero unless the values sit in a
    narrow band far from it (a 91–97 % rate), where a zero base would flatten the trend; `zero_based` forces it."""
    labels = [str(label) for label in labels]
    values = []
    for line in series:
        _check_lengths(labels, line.values, f"series {line.name!r}")
        values.append([_dec(value) for value in line.values])
    goal = _dec(target)
    desc = _line_desc(title, labels, series, values, y_format, goal)
    # A rate of zero is a result (no denials this month), so only a chart without any value says "No data".
    message = None if any(value is not None for row in values for value in row) else "No data"
    if message:
        return _no_data("line", title, desc, width=width, height=height, responsive=responsive,
                        show_title=show_title, message=message)
    body, top = _title_row(title, show_title)
    colors = [line.color or SERIES_COLORS[index % len(SERIES_COLORS)] for index, line in enumerate(series)]
    if len(series) > 1:
        body += _legend([("line", color, line.name) for color, line in zip(colors, series, strict=True)],
                        x=0, y=top + 10)
        top += 16
    present = [value for row in values for value in row if value is not None]
    shown = present + ([goal] if goal is not None else [])
    if zero_based is None:
        zero_based = not _narrow_band(shown)
    ticks, tick_text = _value_axis(shown, y_format, zero_based=zero_based)
    plot = _plot(width=width, height=height, top=top + 14, ticks=ticks, tick_text=tick_text, count=len(labels))
    body += _grid(plot, ticks, tick_text)
    if goal is not None:
        body += _target_line(plot, goal, y_format)
    body += _x_labels(plot, labels)
    last_labels = []
    for line, row, color in zip(series, values, colors, strict=True):
        body += _line_marks(plot, line, row, color, labels, y_format)
        last = max((index for index, value in enumerate(row) if value is not None), default=None)
        if last is not None:
            last_labels.append((plot.y(row[last]) - 7, plot.x(last), format_value(row[last], y_format)))
    body += _spread_labels(plot, last_labels)
    return _svg("line", title, desc, width, height, responsive, body)


def _narrow_band(values: list[Decimal]) -> bool:
    low, high = min(values), max(values)
    return (low > 0 and low > high / 2) or (high < 0 and high < low / 2)


def _line_desc(title, labels, series, values, y_format, goal) -> str:
    parts = [f"{line.name}: {_pairs_in_words(labels, row, y_format)}" for line, row in zip(series, values, strict=True)]
    text = f"{title}. " + ". ".join(parts) + "."
    return text + (f" Target {format_value(goal, y_format)}." if goal is not None else "")


def _segments(row: list[Decimal | None]) -> list[list[int]]:
    runs, current = [], []
    for index, value in enumerate(row):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(index)
    return runs + ([current] if current else [])


def _line_marks(plot: _Plot, line: Series, row, color: str, labels, y_format: str) -> list[str]:
    css = " ".join(filter(None, ["chart-series", line.css_class]))
    marks = []
    for run in _segments(row):
        if len(run) > 1:
            points = " ".join(f"{_num(plot.x(i))},{_num(plot.y(row[i]))}" for i in run)
            marks.append(_el("polyline", points=points, fill="none", stroke=color, stroke_width=2,
                             stroke_linejoin="round", stroke_linecap="round", class_=css))
    for index, value in enumerate(row):
        if value is not None:
            marks.append(_el("circle", _tip(f"{line.name}, {labels[index]}: {format_value(value, y_format)}"),
                             cx=plot.x(index), cy=plot.y(value), r=2.8, fill=color, class_="chart-point",
                             data_value=str(value)))
    return marks


def _target_line(plot: _Plot, goal: Decimal, y_format: str) -> list[str]:
    y = plot.y(goal)
    return [_el("line", x1=plot.left, x2=plot.right, y1=y, y2=y, stroke=INK, stroke_width=1.2,
                stroke_dasharray="6 4", class_="chart-target"),
            _text(plot.left + 4, y - 4, f"Target {format_value(goal, y_format)}", size=LABEL_SIZE, fill=MUTED,
                  class_="chart-target-label")]


def _spread_labels(plot: _Plot, labels: list[tuple[float, float, str]]) -> list[str]:
    """The latest value of each line, pushed apart vertically so two close lines keep readable labels."""
    marks, floor = [], -math.inf
    for y, x, text in sorted(labels):
        y = max(y, floor + 12, plot.top - 2)
        floor = y
        x = min(x, plot.right - _text_px(text, LABEL_SIZE) / 2)
        # Ink, not the series colour: orange or sky-blue text on white is too faint to read.
        marks.append(_text(x, y, text, anchor="middle", size=LABEL_SIZE, font_weight="bold",
                           class_="chart-value"))
    return marks


# ---------------------------------------------------------------- bar chart


def bar_chart(labels: Sequence[str], values: Sequence[Value], *, y_format: str = "number",
              highlight_last: bool = False, title: str = "Bar chart", color: str | None = None, width: int = 640,
              height: int = 220, responsive: bool = True, show_title: bool = True) -> SafeString:
    """Vertical bars from the zero line: negative values (a month of reversals) go below it, None leaves a gap
    marked "n/a". Values are labelled when they fit, else the latest, the largest and the smallest."""
    labels = [str(label) for label in labels]
    _check_lengths(labels, values, title)
    row = [_dec(value) for value in values]
    desc = f"{title}. {_pairs_in_words(labels, row, y_format)}." if labels else f"{title}. No data."
    message = _empty_message(row, y_format) if labels else "No data"
    if message:
        return _no_data("bar", title, desc, width=width, height=height, responsive=responsive,
                        show_title=show_title, message=message)
    body, top = _title_row(title, show_title)
    ticks, tick_text = _value_axis([value for value in row if value is not None], y_format)
    plot = _plot(width=width, height=height, top=top + 14, ticks=ticks, tick_text=tick_text, count=len(labels))
    body += _grid(plot, ticks, tick_text)
    body += _x_labels(plot, labels)
    main = color or OKABE_ITO["blue"]
    fills = [LIGHT_BAR if highlight_last and index < len(row) - 1 else main for index in range(len(row))]
    body += _bars(plot, labels, row, fills, y_format)
    return _svg("bar", title, desc, width, height, responsive, body)


def _labelled(row: list[Decimal | None], texts: list[str], band: float) -> set[int]:
    present = [index for index, value in enumerate(row) if value is not None]
    if all(_text_px(texts[index], LABEL_SIZE) + 2 <= band for index in present):
        return set(present)
    return {present[-1], max(present, key=lambda i: row[i]), min(present, key=lambda i: row[i])}


def _bars(plot: _Plot, labels, row, fills, y_format: str, *, value_texts: list[str] | None = None) -> list[str]:
    zero = plot.y(0)
    bar_width = min(plot.band * 0.7, 64)
    texts = value_texts or [format_value(value, y_format) for value in row]
    shown = _labelled(row, texts, plot.band)
    marks = []
    for index, value in enumerate(row):
        x = plot.x(index)
        if value is None:
            marks.append(_text(x, zero - 4, "n/a", anchor="middle", size=LABEL_SIZE - 1, fill=MUTED,
                               class_="chart-gap"))
            continue
        top = plot.y(value)
        marks.append(_el("rect", _tip(f"{labels[index]}: {texts[index]}"), x=x - bar_width / 2, y=min(top, zero),
                         width=bar_width, height=abs(zero - top), fill=NEGATIVE_COLOR if value < 0 else fills[index],
                         class_="chart-bar", data_label=labels[index], data_value=str(value)))
        if index in shown:
            y = top - 4 if value >= 0 else top + LABEL_SIZE + 2
            marks.append(_text(x, y, texts[index], anchor="middle", size=LABEL_SIZE, class_="chart-value"))
    return marks


# ---------------------------------------------------------------- Pareto


def pareto_chart(labels: Sequence[str], values: Sequence[Value], *, y_format: str = "number",
                 title: str = "Denial reasons", top: int = 10, width: int = 640, height: int = 240,
                 responsive: bool = True, show_title: bool = True) -> SafeString:
    """Reasons sorted largest first as bars (left axis), with the cumulative share as a line on a 0–100 % right
    axis. Reasons beyond `top` are summed into "Other" as the last bar; None, zero and negative amounts are left
    out (a Pareto ranks what happened)."""
    _check_lengths(labels, values, title)
    pairs = sorted(((str(label), _dec(value)) for label, value in zip(labels, values, strict=True)
                    if _dec(value) is not None and _dec(value) > 0), key=lambda pair: -pair[1])
    if len(pairs) > top:
        pairs = pairs[:top - 1] + [("Other", sum(value for _label, value in pairs[top - 1:]))]
    total = sum(value for _label, value in pairs)
    cumulative, running = [], Decimal(0)
    for _label, value in pairs:
        running += value
        cumulative.append(running / total)
    names = [label for label, _value in pairs]
    row = [value for _label, value in pairs]
    desc = f"{title}, largest first. " + "; ".join(
        f"{name} {format_value(value, y_format)} (cumulative {format_value(share, 'percent')})"
        for name, value, share in zip(names, row, cumulative, strict=True)) + "." if pairs else f"{title}. No data."
    if not pairs:
        return _no_data("pareto", title, desc, width=width, height=height, responsive=responsive,
                        show_title=show_title, message="No data")
    body, top_y = _title_row(title, show_title)
    body += _legend([("box", OKABE_ITO["blue"], "Amount" if y_format == "money" else "Count"),
                     ("line", NEGATIVE_COLOR, "Cumulative %")], x=0, y=top_y + 10)
    ticks, tick_text = _value_axis(row, y_format)
    plot = _plot(width=width, height=height, top=top_y + 30, ticks=ticks, tick_text=tick_text, count=len(row),
                 right_margin=44)
    body += _grid(plot, ticks, tick_text)
    body += _x_labels(plot, names)
    body += _bars(plot, names, row, [OKABE_ITO["blue"]] * len(row), y_format)
    body += _cumulative(plot, names, cumulative)
    return _svg("pareto", title, desc, width, height, responsive, body)


def _cumulative(plot: _Plot, names: list[str], cumulative: list[Decimal]) -> list[str]:
    def y(share: Decimal) -> float:
        return plot.bottom - float(share) * (plot.bottom - plot.top)

    marks = [_text(plot.right + 6, y(Decimal(quarter) / 4) + 4, f"{quarter * 25} %", fill=MUTED,
                   class_="chart-tick chart-tick-right") for quarter in range(5)]
    points = " ".join(f"{_num(plot.x(i))},{_num(y(share))}" for i, share in enumerate(cumulative))
    marks.append(_el("polyline", points=points, fill="none", stroke=NEGATIVE_COLOR, stroke_width=2,
                     stroke_linejoin="round", class_="chart-cumulative"))
    for index, share in enumerate(cumulative):
        marks.append(_el("circle", _tip(f"{names[index]}: cumulative {format_value(share, 'percent')}"),
                         cx=plot.x(index), cy=y(share), r=2.8, fill=NEGATIVE_COLOR, class_="chart-point",
                         data_value=str(share)))
    return marks


# ---------------------------------------------------------------- horizontal bars: shares and aging


def _rows(*, names: list[str], values: list[Decimal | None], fills: list[str], y_format: str, width: int,
          top: float, row_height: float = 22) -> tuple[list[str], float]:
    """One labelled horizontal bar per value, scaled to the largest, with its amount and share of the total."""
    total = sum((value for value in values if value is not None and value > 0), Decimal(0))
    texts = [_share_text(value, total, y_format) for value in values]
    label_width = min(max(_text_px(name) for name in names) + 8, width * 0.35)
    text_width = max(_text_px(text) for text in texts) + 8
    room = max(width - label_width - text_width - 4, 20)
    largest = max((value for value in values if value is not None and value > 0), default=Decimal(1))
    marks = []
    for index, (name, value) in enumerate(zip(names, values, strict=True)):
        y = top + index * row_height
        marks.append(_text(label_width - 8, y + 15, _fit(name, label_width - 8), anchor="end", class_="chart-label"))
        length = float(value / largest) * room if value is not None and value > 0 else 0.0
        if value is not None:
            marks.append(_el("rect", _tip(f"{name}: {texts[index]}"), x=label_width, y=y + 4, width=length,
                             height=row_height - 8, fill=fills[index], class_="chart-bar", data_label=name,
                             data_value=str(value)))
        marks.append(_text(label_width + length + 6, y + 15, texts[index], fill=INK if value is not None else MUTED,
                           class_="chart-value"))
    return marks, top + len(names) * row_height


def _share_text(value: Decimal | None, total: Decimal, y_format: str) -> str:
    if value is None:
        return "no data"
    share = format_value(value / total, "percent") if total and value > 0 else "–"
    return f"{share}  ({format_value(value, y_format)})"


def share_bars(labels: Sequence[str], values: Sequence[Value], *, y_format: str = "money", title: str = "Share",
               sort: bool = True, color: str | None = None, width: int = 640, height: int | None = None,
               responsive: bool = True, show_title: bool = True) -> SafeString:
    """Horizontal bars, one per label, each with its share of the positive total ("45.2 %  ($12,345.67)"),
    largest first unless sort=False. Height grows with the rows unless given."""
    _check_lengths(labels, values, title)
    pairs = [(str(label), _dec(value)) for label, value in zip(labels, values, strict=True)]
    if sort:
        pairs.sort(key=lambda pair: -(pair[1] if pair[1] is not None else Decimal("-Infinity")))
    names, row = [label for label, _v in pairs], [value for _l, value in pairs]
    total = sum((value for value in row if value is not None and value > 0), Decimal(0))
    desc = f"{title}. " + "; ".join(f"{name} {_share_text(value, total, y_format)}"
                                    for name, value in pairs) + "." if pairs else f"{title}. No data."
    message = _empty_message(row, y_format) if pairs else "No data"
    if message or not total:
        return _no_data("share", title, desc, width=width, height=height or 120, responsive=responsive,
                        show_title=show_title, message=message or "No data: nothing positive to share")
    body, top = _title_row(title, show_title)
    marks, bottom = _rows(names=names, values=row, fills=[color or OKABE_ITO["blue"]] * len(row),
                          y_format=y_format, width=width, top=top)
    return _svg("share", title, desc, width, height or bottom + 6, responsive, body + marks)


def aging_bar(buckets: Mapping[str, Value], *, title: str = "A/R aging",
              bucket_labels: Mapping[str, str] | None = None, width: int = 640, height: int | None = None,
              responsive: bool = True, show_title: bool = True) -> SafeString:
    """A/R by age bucket, in the order given (youngest first): one stacked bar of the whole balance, then a
    labelled bar per bucket with its amount and share, then the total. Older buckets get warmer colours.
    `bucket_labels` maps keys to shown names (e.g. denials.selectors.AGE_BUCKET_LABELS)."""
    keys = list(buckets)
    names = [str((bucket_labels or {}).get(key, key)) for key in keys]
    row = [_dec(buckets[key]) for key in keys]
    fills = [AGING_COLORS[min(index, len(AGING_COLORS) - 1)] for index in range(len(keys))]
    total = sum((value for value in row if value is not None and value > 0), Decimal(0))
    whole = format_value(sum((value for value in row if value is not None), Decimal(0)), "money")
    desc = (f"{title}. " + "; ".join(f"{name} {_share_text(value, total, 'money')}"
                                     for name, value in zip(names, row, strict=True))
            + f". Total {whole}.") if keys else f"{title}. No data."
    message = _empty_message(row, "money") if keys else "No data"
    if message or not total:
        return _no_data("aging", title, desc, width=width, height=height or 120, responsive=responsive,
                        show_title=show_title, message=message or "No data: no balance is owed")
    body, top = _title_row(title, show_title)
    body += _stack(names, row, fills, total, width=width, top=top + 2)
    marks, bottom = _rows(names=names, values=row, fills=fills, y_format="money", width=width, top=top + 38)
    body += marks
    body.append(_text(0, bottom + 16, f"Total {whole}", font_weight="bold", class_="chart-total"))
    return _svg("aging", title, desc, width, height or bottom + 24, responsive, body)


def _stack(names, row, fills, total: Decimal, *, width: int, top: float) -> list[str]:
    marks, x, span = [], 0.0, float(width)
    for name, value, fill in zip(names, row, fills, strict=True):
        if value is None or value <= 0:
            continue
        share = value / total
        length = float(share) * span
        marks.append(_el("rect", _tip(f"{name}: {format_value(share, 'percent')}"), x=x, y=top, width=length,
                         height=26.0, fill=fill, stroke="#ffffff", stroke_width=1, class_="chart-segment",
                         data_label=name, data_value=str(value)))
        text = format_value(share, "percent", decimals=0)
        if _text_px(text) + 6 <= length:
            marks.append(_text(x + length / 2, top + 17, text, anchor="middle", font_weight="bold",
                               fill=_TEXT_ON.get(fill, "#000000"), class_="chart-segment-label"))
        x += length
    return marks


# ---------------------------------------------------------------- sparkline


def sparkline(values: Sequence[Value], *, title: str = "Trend", y_format: str = "number", width: int = 120,
              height: int = 32, color: str | None = None, responsive: bool = False) -> SafeString:
    """A tiny trend for a KPI tile: the line (gaps for None) scaled to its own range, the latest point dotted. No
    axes or text; the numbers are in <desc>. Fixed size unless responsive=True."""
    row = [_dec(value) for value in values]
    present = [value for value in row if value is not None]
    desc = f"{title}: " + ", ".join(format_value(value, y_format) for value in row) + "." if present else \
        f"{title}: no data."
    body = []
    stroke = color or OKABE_ITO["blue"]
    if present:
        lo, hi = float(min(present)), float(max(present))
        step = (width - 6) / max(len(row) - 1, 1)

        def point(index: int) -> tuple[float, float]:
            middle = height / 2
            if hi == lo:
                return 3 + index * step, middle
            return 3 + index * step, height - 3 - (float(row[index]) - lo) / (hi - lo) * (height - 6)

        for run in _segments(row):
            if len(run) > 1:
                body.append(_el("polyline", points=" ".join(f"{_num(x)},{_num(y)}" for x, y in map(point, run)),
                                fill="none", stroke=stroke, stroke_width=1.5, stroke_linejoin="round",
                                class_="chart-series"))
            else:
                x, y = point(run[0])
                body.append(_el("circle", cx=x, cy=y, r=1.5, fill=stroke))
        x, y = point(max(index for index, value in enumerate(row) if value is not None))
        body.append(_el("circle", cx=x, cy=y, r=2.5, fill=stroke, class_="chart-last"))
    else:
        body.append(_el("line", x1=3.0, x2=float(width - 3), y1=height / 2, y2=height / 2, stroke=GRID,
                        stroke_dasharray="3 3", class_="chart-empty"))
    return _svg("sparkline", title, desc, width, height, responsive, body)
