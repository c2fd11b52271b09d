"""SVG plots: well-formed, escaped, and each mark where its value says."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tapwatch.exporters import svg

NS = "{http://www.w3.org/2000/svg}"


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{NS}svg"
    assert root.find(f"{NS}title") is not None and root.find(f"{NS}desc") is not None
    return root


def dots(root: ET.Element, r: str) -> list[ET.Element]:
    return [c for c in root.iter(f"{NS}circle") if c.get("r") == r]


@pytest.mark.parametrize(
    ("span", "step"), [(10, 2), (7, 2), (100, 20), (0.3, 0.1), (4500, 1000), (0, 1.0)]
)
def test_nice_step(span: float, step: float) -> None:
    assert svg.nice_step(span) == pytest.approx(step)


TIMELINE = [
    {"burst": 0, "account": "aaaaaaaa11111111", "ts": 1000.0, "dx_m": 0.0, "dy_m": 0.0},
    {"burst": 0, "account": "bbbbbbbb22222222", "ts": 1006.0, "dx_m": 8.0, "dy_m": 0.0},
    {"burst": 0, "account": "cccccccc33333333", "ts": 1012.0, "dx_m": 0.0, "dy_m": 8.0},
    {"burst": 1, "account": "aaaaaaaa11111111", "ts": 90000.0, "dx_m": -3.0, "dy_m": -3.0},
    {"burst": 1, "account": "bbbbbbbb22222222", "ts": 90030.0, "dx_m": None, "dy_m": None},
]


def test_checkin_plot_puts_east_right_and_north_up() -> None:
    root = parse(
        svg.checkin_plot(
            TIMELINE, ring_m=15, ring_label="limit <15 m>", burst_labels=["day 1 <b>", "day 2"]
        )
    )
    pts = dots(root, "3.5")
    assert len(pts) == 4  # the check-in without a position is not drawn ...
    assert "1 without a position" in root.find(f"{NS}desc").text  # type: ignore[union-attr]
    (cx, cy) = (float(pts[0].get("cx")), float(pts[0].get("cy")))  # type: ignore[arg-type]
    east, north = pts[1], pts[2]
    assert float(east.get("cx")) > cx and float(east.get("cy")) == pytest.approx(cy)  # type: ignore[arg-type]
    assert float(north.get("cy")) < cy and float(north.get("cx")) == pytest.approx(cx)  # type: ignore[arg-type]
    assert pts[0].get("fill") != pts[3].get("fill")  # one colour per burst
    # the ring of 15 m is drawn to the same scale as the points: 8 m is inside it
    ring = next(c for c in root.iter(f"{NS}circle") if c.get("stroke-dasharray"))
    assert float(east.get("cx")) - cx < float(ring.get("r"))  # type: ignore[arg-type]
    text = ET.tostring(root, encoding="unicode")
    assert "day 1 &lt;b&gt;" in text and "limit &lt;15 m&gt;" in text


def test_checkin_plot_of_a_tight_cluster_keeps_a_readable_scale() -> None:
    tight = [dict(t, dx_m=0.1 * i, dy_m=0.0) for i, t in enumerate(TIMELINE[:3])]
    root = parse(svg.checkin_plot(tight))
    xs = [float(c.get("cx")) for c in dots(root, "3.5")]  # type: ignore[arg-type]
    # at least +-10 m across the plot: 0.2 m apart is a few pixels, not the full width
    assert max(xs) - min(xs) < 5


def test_arrivals_plot_has_a_row_per_account_and_time_since_burst_start() -> None:
    root = parse(svg.arrivals_plot(TIMELINE, label=lambda a: a[:8]))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert {"aaaaaaaa", "bbbbbbbb", "cccccccc"} <= set(texts)
    assert not any(t and "11111111" in t for t in texts)  # short pseudonyms only
    arrivals = dots(root, "4")
    assert len(arrivals) == len(TIMELINE)
    first = [a for a in arrivals if a.get("fill") == svg.PALETTE[0]]
    second = [a for a in arrivals if a.get("fill") == svg.PALETTE[1]]
    # both bursts start at x of 0 s, a day apart in real time
    assert float(first[0].get("cx")) == pytest.approx(float(second[0].get("cx")))  # type: ignore[arg-type]
    # the same account sits on the same row in both bursts
    assert first[0].get("cy") == second[0].get("cy")


def test_bar_chart_heights_are_proportional_and_highlight_is_marked() -> None:
    root = parse(svg.bar_chart([1, 2, 4, 0], ["a", "b", "c", "<d>"], title="t", highlight={2}))
    bars = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    heights = [float(b.get("height")) for b in bars]  # type: ignore[arg-type]
    assert heights[1] == pytest.approx(2 * heights[0]) and heights[3] == 0
    assert heights[2] == pytest.approx(4 * heights[0])
    assert bars[2].get("fill") != bars[0].get("fill")
    assert bars[3].find(f"{NS}title").text == "<d>: 0"  # type: ignore[union-attr]


def test_paired_bars_and_score_bars_and_line_chart_are_well_formed() -> None:
    root = parse(
        svg.paired_bars(
            ["11-20", "11-21"],
            [30.5, 57.5],
            [8.4, 12.1],
            names=("credited", "wall clock"),
            title="study",
        )
    )
    bars = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert len(bars) == 4
    root = parse(svg.score_bars([("reach", 30, 30), ("trend", 0, 10)]))
    widths = [float(r.get("width")) for r in root.iter(f"{NS}rect")][1:]  # type: ignore[arg-type]
    assert widths[0] == widths[1]  # reach: all its points
    assert widths[3] == 0  # trend: none
    root = parse(svg.line_chart(["w1", "w2", "w3"], [("actions", [5, 3, 1])], title="trend"))
    line = next(root.iter(f"{NS}polyline"))
    ys = [float(p.split(",")[1]) for p in line.get("points").split()]  # type: ignore[union-attr]
    assert ys == sorted(ys)  # falling values go down the page


@pytest.mark.parametrize("ring_m", [2.0, 15.0, 18.0, 60.0])
def test_the_spread_limit_label_stays_inside_the_plot(ring_m: float) -> None:
    label = f"spread limit {ring_m:g} m"
    root = parse(svg.checkin_plot(TIMELINE, ring_m=ring_m, ring_label=label))
    width = float(root.get("width"))  # type: ignore[arg-type]
    (text,) = [t for t in root.iter(f"{NS}text") if t.text == label]
    x, y = float(text.get("x")), float(text.get("y"))  # type: ignore[arg-type]
    est = svg.text_width(label)
    left, right = (x, x + est) if text.get("text-anchor") == "start" else (x - est, x)
    assert left >= 0 and right <= width - 12, (left, right, width)
    assert y >= 12
