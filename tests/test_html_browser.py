"""The HTML report in a real headless Chromium (Debian's package, driven by Playwright).

Never ``playwright install``: it downloads a browser. The test needs /usr/bin/chromium.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from browser import CHROMIUM, IMG_ANSWER, SCRIPT_ANSWER, SKIP_REASON, open_page

from pytest_visionevals.report import html
from pytest_visionevals.results import CaseResult
from pytest_visionevals.scoring import Scorecard

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON)


def verdict(expected: list[list[int]], predicted: list[list[int]]) -> dict[str, Any]:
    # Boxes nested in a child verdict, as combinators produce them.
    child = {
        "assertion": "boxes",
        "passed": False,
        "score": 0.5,
        "explanation": "IoU 0.4",
        "parsed": None,
        "children": [],
        "details": {
            "expected_boxes": [{"box": b, "label": "bottle"} for b in expected],
            "predicted_boxes": [{"box": b, "label": None} for b in predicted],
        },
    }
    return {
        "assertion": "all",
        "passed": False,
        "score": 0.5,
        "explanation": "",
        "parsed": None,
        "details": {},
        "children": [child],
    }


def results(image: Path) -> list[CaseResult]:
    def make(model: str, case: str, category: str, outcome: str, **kw: Any) -> CaseResult:
        return CaseResult(
            nodeid=f"evals/e.yaml::{case}[{model}]",
            file="evals/e.yaml",
            case_id=case,
            model=model,
            category=category,
            task="detection",
            outcome=outcome,
            prompt="Find the bottles.",
            images=[str(image)],
            score={"passed": 1.0, "failed": 0.0}.get(outcome),
            **kw,
        )

    return [
        make(
            "alpha",
            "boxes-case",
            "Detection",
            "failed",
            answer=SCRIPT_ANSWER,
            verdict=verdict([[10, 20, 60, 80]], [[100, 50, 150, 90]]),
        ),
        make(
            "beta",
            "boxes-case",
            "Detection",
            "passed",
            answer=IMG_ANSWER,
            verdict=verdict([[10, 20, 60, 80]], [[12, 22, 58, 78]]),
        ),
        make("alpha", "count-case", "Counting", "passed", answer="27"),
        make("beta", "count-case", "Counting", "error", reason="HTTP 500 after 4 attempts"),
    ]


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from PIL import Image

    d = tmp_path_factory.mktemp("html")
    image = d / "shelf.png"
    Image.new("RGB", (200, 100), "white").save(image)
    out = d / "report.html"
    html.write(out, html.render(Scorecard.build(results(image), ["alpha", "beta"]), {}))
    return out.as_uri()


@pytest.fixture(scope="module")
def browser_page(page_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with open_page(page_url, tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


def visible_cases(page: Any) -> list[str]:
    return list(
        page.eval_on_selector_all(
            "section.case", "els => els.filter(e => !e.hidden).map(e => e.dataset.key)"
        )
    )


def test_page_renders(browser_page: Any) -> None:
    page = browser_page
    assert page.title() == "Vision eval report"
    assert page.locator("#scorecard th", has_text="Overall score").count() == 1
    assert sorted(visible_cases(page)) == ["evals/e.yaml::boxes-case", "evals/e.yaml::count-case"]
    assert page.errors == []
    # The image is inline and decoded (no network in the page).
    width = page.eval_on_selector("section.case img", "img => img.naturalWidth")
    assert width == 200


def test_boxes_drawn_at_the_right_coordinates(browser_page: Any) -> None:
    page = browser_page
    section = 'section.case[data-key="evals/e.yaml::boxes-case"]'
    viewbox = page.get_attribute(f"{section} svg", "viewBox")
    assert viewbox == "0 0 200 100"
    expected = page.eval_on_selector_all(
        f"{section} g.expected rect",
        "rs => rs.map(r => [r.x.baseVal.value, r.y.baseVal.value, "
        "r.width.baseVal.value, r.height.baseVal.value])",
    )
    assert expected == [[10, 20, 50, 60]]
    alpha = page.eval_on_selector_all(
        f'{section} g.predicted[data-model="alpha"] rect',
        "rs => rs.map(r => [r.x.baseVal.value, r.y.baseVal.value, "
        "r.width.baseVal.value, r.height.baseVal.value])",
    )
    assert alpha == [[100, 50, 50, 40]]
    # The overlay is laid out over the image, scaled with it.
    box = page.locator(f'{section} g.predicted[data-model="beta"] rect').bounding_box()
    img = page.locator(f"{section} img").bounding_box()
    scale = img["width"] / 200
    assert box["x"] == pytest.approx(img["x"] + 12 * scale, abs=2)
    assert box["width"] == pytest.approx(46 * scale, abs=2)


def test_model_output_is_text_and_never_runs(browser_page: Any) -> None:
    page = browser_page
    assert page.evaluate("typeof window.pwned") == "undefined"
    answers = page.eval_on_selector_all("pre.model-answer", "els => els.map(e => e.textContent)")
    assert SCRIPT_ANSWER in answers
    assert IMG_ANSWER in answers
    # No element was created from the answers.
    assert page.eval_on_selector_all(".answers script, .answers img", "els => els.length") == 0


def test_filters(browser_page: Any) -> None:
    page = browser_page
    key_boxes, key_count = "evals/e.yaml::boxes-case", "evals/e.yaml::count-case"
    page.select_option("#f-category", "Counting")
    assert visible_cases(page) == [key_count]
    page.select_option("#f-category", "")
    page.select_option("#f-outcome", "error")
    assert visible_cases(page) == [key_count]
    shown = page.eval_on_selector_all(
        ".answer", "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.model)"
    )
    assert shown == ["beta"]
    page.select_option("#f-outcome", "")
    page.uncheck('input.f-model[value="beta"]')
    assert sorted(visible_cases(page)) == [key_boxes, key_count]
    models = page.eval_on_selector_all(
        ".answer", "els => els.filter(e => !e.hidden).map(e => e.dataset.model)"
    )
    assert set(models) == {"alpha"}
    hidden_group = page.eval_on_selector(
        f'section.case[data-key="{key_boxes}"] g.predicted[data-model="beta"]',
        "g => getComputedStyle(g).display",
    )
    assert hidden_group == "none"
    page.select_option("#f-outcome", "error")  # beta's error hidden by the model filter
    assert visible_cases(page) == []
    assert page.text_content("#f-count") == "0 case(s) shown"
    page.check('input.f-model[value="beta"]')
    page.select_option("#f-outcome", "")
    assert page.evaluate("typeof window.pwned") == "undefined"


# -- charts for choosing a model -------------------------------------------------------------

# model: (passes of 10, cost per task (None: unpriced), average latency in s)
CHART_MODELS: dict[str, tuple[int, float | None, float]] = {
    "alpha": (9, 0.01, 4.0),
    "beta": (7, 0.001, 1.0),
    "gamma": (6, 0.005, 2.0),  # beaten by beta on both charts
    "delta": (9, 0.02, 2.5),  # cost: beaten by alpha (same score, dearer); fastest 90%
    "eps <b>": (8, None, 3.0),  # unpriced: not on the cost chart
    "zeta": (7, 0.001, 1.0),  # ties beta on both: both stay on the front
}
COST_FRONT = {"alpha", "beta", "zeta"}
LATENCY_FRONT = {"beta", "zeta", "delta"}


def chart_results() -> list[CaseResult]:
    return [
        CaseResult(
            nodeid=f"evals/e.yaml::c{i}[{model}]",
            file="evals/e.yaml",
            case_id=f"c{i}",
            model=model,
            category="Counting" if i % 2 else "Documents",
            outcome="passed" if i < passes else "failed",
            score=1.0 if i < passes else 0.0,
            cost_usd=cost,
            latency_s=latency,
        )
        for model, (passes, cost, latency) in CHART_MODELS.items()
        for i in range(10)
    ]


@pytest.fixture(scope="module")
def charts_page(browser_page: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("charts") / "report.html"
    html.write(out, html.render(Scorecard.build(chart_results(), list(CHART_MODELS)), {}))
    page = browser_page.context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(out.as_uri())
    page.wait_for_selector("svg[data-chart]")
    page.errors = errors
    return page


def marks(page: Any, chart: str) -> dict[str, dict[str, Any]]:
    """Per model: its Pareto flag and the rendered centre of its circle."""
    rows = page.eval_on_selector_all(
        f'svg[data-chart="{chart}"] g.mark',
        """gs => gs.map(g => {
            const r = g.querySelector("circle").getBoundingClientRect();
            return [g.dataset.model, g.dataset.pareto === "true",
                    r.x + r.width / 2, r.y + r.height / 2, r.width];
        })""",
    )
    assert len(rows) == len({r[0] for r in rows}), "one mark per model"
    return {r[0]: {"front": r[1], "x": r[2], "y": r[3], "size": r[4]} for r in rows}


def test_charts_one_mark_per_model_and_pareto_front(charts_page: Any) -> None:
    page = charts_page
    cost = marks(page, "cost")
    assert set(cost) == set(CHART_MODELS) - {"eps <b>"}
    assert {m for m, v in cost.items() if v["front"]} == COST_FRONT
    latency = marks(page, "latency")
    assert set(latency) == set(CHART_MODELS)
    assert {m for m, v in latency.items() if v["front"]} == LATENCY_FRONT
    assert all(v["size"] > 5 for v in [*cost.values(), *latency.values()])  # drawn, visible
    # Placed where the figures say: cheaper to the left, better higher (screen y grows down).
    assert cost["beta"]["x"] == pytest.approx(cost["zeta"]["x"])
    assert cost["beta"]["x"] < cost["gamma"]["x"] < cost["alpha"]["x"] < cost["delta"]["x"]
    assert cost["alpha"]["y"] == pytest.approx(cost["delta"]["y"])
    assert cost["alpha"]["y"] < cost["beta"]["y"] < cost["gamma"]["y"]
    assert latency["beta"]["x"] < latency["gamma"]["x"] < latency["delta"]["x"]
    assert latency["delta"]["x"] < latency["eps <b>"]["x"] < latency["alpha"]["x"]
    # The dashed front runs from the leftmost to the rightmost model on it (SVG units).
    box, ends = page.eval_on_selector(
        'svg[data-chart="cost"]',
        """svg => {
            const b = svg.querySelector("path.pareto-front").getBBox();
            const cx = m => svg.querySelector(`g.mark[data-model="${m}"] circle`).cx.baseVal.value;
            return [[b.x, b.x + b.width], [cx("beta"), cx("alpha")]];
        }""",
    )
    assert box == pytest.approx(ends, abs=0.01)
    assert page.errors == []


def test_charts_unpriced_model_named_and_bars_per_category(charts_page: Any) -> None:
    page = charts_page
    caption = page.text_content("#chart-cost figcaption")
    assert "Not placed: eps <b> (cost unknown: unpriced model)." in caption
    assert page.eval_on_selector_all("figure.chart b", "els => els.length") == 0  # text only
    bars = page.eval_on_selector_all(
        'svg[data-chart="categories"] rect.bar',
        "rs => rs.map(r => [r.dataset.model, r.dataset.category, r.getBBox().height])",
    )
    assert len(bars) == len(CHART_MODELS) * 2
    heights = {(m, c): h for m, c, h in bars}
    # alpha passes c0..c8: Documents (even) 5/5, Counting (odd) 4/5.
    assert heights[("alpha", "Counting")] == pytest.approx(0.8 * heights[("alpha", "Documents")])


def test_charts_are_labelled_for_screen_readers(charts_page: Any) -> None:
    page = charts_page
    for chart in ("cost", "latency", "categories"):
        svg = f'svg[data-chart="{chart}"]'
        assert page.get_attribute(svg, "role") == "img"
        ids = page.get_attribute(svg, "aria-labelledby").split()
        for ident in ids:
            assert page.locator(f"#{ident}").count() == 1
    title = page.text_content('svg[data-chart="cost"] g.mark[data-model="gamma"] title')
    assert title.startswith("gamma: 60% (6/10) [")
    assert title.endswith("$0.0050 per task, beaten by another model")
