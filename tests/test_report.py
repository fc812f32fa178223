"""``asvit report`` on Vega-Lite specs shaped as DVC fills the project's templates: one title per plot
and a revision legend only where several revisions are drawn."""

from __future__ import annotations

import re

import pytest

from asvit.report import Plot, write_report

TITLE = "Parameters vs trained accuracy"


def scatter(revisions: list[str]) -> dict:
    """The spec DVC makes of the scatter_fit template for ``revisions``: colour by revision."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": [{"params": 1.0 + i, "accuracy": 30.0 + i, "rev": rev} for rev in revisions
                            for i in range(3)]},
        "title": TITLE,
        "mark": {"type": "point", "filled": True},
        "encoding": {
            "x": {"field": "params", "type": "quantitative", "title": "params"},
            "y": {"field": "accuracy", "type": "quantitative", "title": "validation top-1 (%)"},
            "color": {"field": "rev", "scale": {"domain": revisions, "range": ["#945dd6", "#13adc7"][:len(revisions)]}},
        },
    }


def per_model(revisions: list[str]) -> dict:
    """The spec DVC makes of the per_model template: colour by model, stroke dash by revision."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": [{"epoch": e, "top1": 10.0 * e, "model": m, "rev": rev} for rev in revisions
                            for m in ("g00", "g01") for e in (1, 2)]},
        "title": "Training top-1 per model",
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative"},
            "y": {"field": "top1", "type": "quantitative"},
            "color": {"field": "model", "type": "nominal", "title": "model"},
            "strokeDash": {"field": "rev", "type": "nominal", "title": "revision"},
        },
    }


def legends(svg: str) -> list[str]:
    """The titles and entry labels of the legends drawn in ``svg``."""
    groups = re.findall(r'<g class="mark-text role-legend-(?:label|title)".*?</g>', svg)
    return [text for group in groups for text in re.findall(r"<text[^>]*>([^<]*)</text>", group)]


def report(tmp_path, plot: Plot) -> tuple[str, str]:
    """(page, the plot's SVG) written by ``write_report``."""
    out = write_report([plot], tmp_path / "plots.html")
    return out.read_text(), (tmp_path / "plots" / f"{plot.id}.svg").read_text()


@pytest.mark.parametrize("revisions", [["workspace"], ["main", "exp-a"]])
def test_each_plot_title_is_printed_once_as_the_page_heading(tmp_path, revisions):
    page, svg = report(tmp_path, Plot("kendall_params", scatter(revisions)))
    assert f"<h2>{TITLE}</h2>" in page
    assert "role-title" not in svg and TITLE not in svg
    assert "validation top-1 (%)" in svg  # the axis titles stay


def test_one_revision_draws_no_revision_legend(tmp_path):
    _, svg = report(tmp_path, Plot("kendall_params", scatter(["workspace"])))
    assert "role-legend" not in svg and legends(svg) == []


def test_several_revisions_keep_their_legend(tmp_path):
    _, svg = report(tmp_path, Plot("kendall_params", scatter(["main", "exp-a"])))
    assert legends(svg) == ["main", "exp-a", "rev"]


def test_a_revision_legend_on_another_channel_goes_too_but_other_legends_stay(tmp_path):
    _, one = report(tmp_path, Plot("train_top1", per_model(["workspace"])))
    assert legends(one) == ["g00", "g01", "model"]
    _, two = report(tmp_path, Plot("train_top1", per_model(["main", "exp-a"])))
    assert legends(two) == ["g00", "g01", "model", "exp-a", "main", "revision"]


def test_the_plot_keeps_its_title_for_dvc(tmp_path):
    spec = scatter(["workspace"])
    plot = Plot("kendall_params", spec)
    report(tmp_path, plot)
    assert plot.spec == scatter(["workspace"]) and plot.title == TITLE
