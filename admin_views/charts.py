"""Small charts drawn on the server as SVG (no script, nothing fetched elsewhere): grouped bars per day and a line.

A chart here is geometry only; templates/admin/_charts.html draws it, and the page gives its data as a table.
"""
import math
from dataclasses import dataclass, field

#: The drawing's size in SVG units (it scales to the page's width) and its margins around the plot.
WIDTH, HEIGHT = 640, 250
LEFT, RIGHT, TOP, BOTTOM = 50, 8, 12, 40
#: Colours with at least 3:1 contrast on white, told apart without colour by the legend and the table.
BLUE, ORANGE = "#1d4f91", "#b34700"


@dataclass
class Chart:
    """What a chart draws: bars and lines (each with a tooltip), the value axis and the day labels."""

    label: str
    bars: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    points: list = field(default_factory=list)
    ticks: list = field(default_factory=list)
    days: list = field(default_factory=list)
    legend: list = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def number_fr(value):
    """Write a number the French way: 2,5 and 12."""
    return f"{value:g}".replace(".", ",")


def nice_step(highest, ticks=4, whole=False):
    """Return a round step (1, 2 or 5 times a power of ten, at least 1 for whole numbers) giving at most `ticks` steps
    up to highest."""
    raw = max(highest, 1) / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(step * power for step in (1, 2, 5, 10) if step * power >= raw)
    return max(step, 1) if whole else step


def _axis(chart, highest, unit="", whole=False):
    """Return y(value) of the chart's value axis, and set its ticks."""
    step = nice_step(highest, whole=whole)
    top = step * max(1, math.ceil(highest / step))
    height = chart.bottom - chart.top

    def y(value):
        return round(chart.bottom - height * value / top, 1)

    value = 0
    while value <= top:
        chart.ticks.append((y(value), f"{number_fr(value)}{unit}"))
        value += step
    return y


def _days(chart, dates, slot):
    """Label every fifth day and today under the plot (dd/mm)."""
    for index, day in enumerate(dates):
        if index % 5 == 0 or index == len(dates) - 1:
            chart.days.append((round(chart.left + slot * (index + 0.5), 1), f"{day:%d/%m}"))


def grouped_bars(label, dates, series):
    """Return a chart of bars per day, side by side: series is [(name, colour, [value per day])]."""
    chart = Chart(label)
    highest = max([max(values, default=0) for _, _, values in series], default=0)
    y = _axis(chart, highest, whole=True)
    slot = (chart.right - chart.left) / len(dates)
    width = slot * 0.8 / len(series)
    for rank, (name, colour, values) in enumerate(series):
        chart.legend.append((name, colour))
        for index, value in enumerate(values):
            if value:
                x = chart.left + slot * index + slot * 0.1 + width * rank
                chart.bars.append((round(x, 1), y(value), round(width, 1), round(chart.bottom - y(value), 1), colour,
                                   f"{dates[index]:%d/%m} : {value} {name.lower()}"))
    _days(chart, dates, slot)
    return chart


def line(label, dates, name, values, unit, colour=BLUE):
    """Return a chart of one value per day joined by a line, broken where a day has none (None)."""
    chart = Chart(label, legend=[(name, colour)])
    y = _axis(chart, max([v for v in values if v is not None], default=0), unit)
    slot = (chart.right - chart.left) / len(dates)
    run = []
    for index, value in enumerate(values):
        if value is None:
            if len(run) > 1:
                chart.lines.append((" ".join(f"{x},{v}" for x, v in run), colour))
            run = []
            continue
        x = round(chart.left + slot * (index + 0.5), 1)
        run.append((x, y(value)))
        chart.points.append((x, y(value), colour, f"{dates[index]:%d/%m} : {number_fr(value)}{unit}"))
    if len(run) > 1:
        chart.lines.append((" ".join(f"{x},{v}" for x, v in run), colour))
    _days(chart, dates, slot)
    return chart
