"""The dashboard's SVG charts (admin_views/charts.py): round axes, bars in proportion, lines broken on empty days."""
import datetime as dt

from admin_views import charts

DAYS = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in range(30)]


def test_the_value_axis_steps_are_round():
    assert [charts.nice_step(n) for n in (0, 3, 7, 40, 130, 9000)] == [0.5, 1, 2, 10, 50, 5000]
    assert charts.nice_step(2, whole=True) == 1 and charts.number_fr(2.5) == "2,5"


def test_bars_are_in_proportion_and_say_their_day_and_number():
    received = [0] * 30
    received[0], received[29] = 4, 2
    decided = [1] * 30
    chart = charts.grouped_bars("Volumes", DAYS, [("Reçus", charts.BLUE, received), ("Décidés", charts.ORANGE, decided)])
    assert len(chart.bars) == 2 + 30  # no bar for an empty day
    heights = {title: height for *_, height, colour, title in chart.bars}
    assert heights["01/03 : 4 reçus"] == 2 * heights["30/03 : 2 reçus"] == 4 * heights["01/03 : 1 décidés"]
    assert max(y + h for _, y, _, h, *_ in chart.bars) == chart.bottom
    assert [label for _, label in chart.days] == ["01/03", "06/03", "11/03", "16/03", "21/03", "26/03", "30/03"]
    assert [label for _, label in chart.ticks] == ["0", "1", "2", "3", "4"]


def test_a_line_is_broken_where_a_day_has_no_value():
    values = [None] * 30
    values[3], values[4], values[5], values[10] = 12, 6.5, 24, 30
    chart = charts.line("Délai", DAYS, "Délai médian", values, " h")
    assert len(chart.points) == 4 and len(chart.lines) == 1
    assert len(chart.lines[0][0].split()) == 3  # days 4 to 6 joined; day 11 alone
    assert chart.points[1][3] == "05/03 : 6,5 h"
