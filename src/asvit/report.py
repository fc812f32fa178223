"""An offline report of the pipeline's plots.

Every plot declared in ``dvc.yaml`` is taken as the Vega-Lite spec DVC itself fills with the data
(``dvc plots show --json``, or ``dvc plots diff REV ... --json`` to compare revisions), rendered to
SVG by vl-convert, and gathered in one HTML page with no scripts, beside a table of each plot's data
points. ``dvc plots show`` writes a page that loads Vega from the web and is blank offline; this
one opens anywhere.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vl_convert
from tqdm import tqdm

from .atomic import atomic_path
from .errors import AsvitError


class ReportError(AsvitError):
    """DVC could not produce the plot specs."""


@dataclass(frozen=True)
class Plot:
    """One declared plot: its id, DVC's Vega-Lite spec with the data inlined, or None without data."""

    id: str
    spec: dict[str, Any] | None

    @property
    def points(self) -> list[dict[str, Any]]:
        return list(self.spec["data"]["values"]) if self.spec else []

    @property
    def title(self) -> str:
        title = (self.spec or {}).get("title", self.id)
        return title.get("text", self.id) if isinstance(title, Mapping) else str(title)

    def svg_spec(self) -> dict[str, Any]:
        """The spec as drawn on the page: without its title (the section's heading shows it) and, where the
        data hold one revision, without the legend of each channel that encodes the revision."""
        spec = {key: value for key, value in self.spec.items() if key != "title"}
        if "encoding" in spec and len({point.get("rev") for point in self.points}) == 1:
            spec["encoding"] = {channel: {**encoding, "legend": None}
                                if isinstance(encoding, Mapping) and encoding.get("field") == "rev" else encoding
                                for channel, encoding in spec["encoding"].items()}
        return spec


def plot_specs(repo: Path, revisions: Sequence[str] = ()) -> list[Plot]:
    """The plots of ``dvc.yaml`` in ``repo``, for the workspace or for ``revisions`` side by side."""
    command = ["plots", "diff", *revisions] if revisions else ["plots", "show"]
    result = subprocess.run([sys.executable, "-m", "dvc", *command, "--json"], cwd=repo, capture_output=True,
                            text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ReportError(f"`dvc {' '.join(command)}` failed in {repo}: {last}")
    data = json.loads(result.stdout).get("data", {})
    return [Plot(plot_id, items[0]["content"] if items else None) for plot_id, items in data.items()]


def _points_table(points: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for point in points for key in point))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(p.get(c, '')))}</td>" for c in columns) + "</tr>"
                   for p in points)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _section(plot: Plot, svg: str | None) -> str:
    if svg is None:
        body = "<p class='missing'>No data: the file or the field of this plot is not in the outputs.</p>"
    else:
        body = (f"{svg}<details><summary>{len(plot.points)} data points</summary>"
                f"{_points_table(plot.points)}</details>")
    return f"<section id='{html.escape(plot.id)}'><h2>{html.escape(plot.title)}</h2>{body}</section>"


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:80em}section{display:inline-block;"
         "vertical-align:top;margin:0 2em 2em 0}table{border-collapse:collapse;font-size:small}"
         "td,th{border:1px solid #ccc;padding:2px 6px}.missing{color:#a00}")


def write_report(plots: Sequence[Plot], out: Path, title: str = "asvit plots") -> Path:
    """``out`` (HTML) with every plot inlined as SVG, and each SVG also as ``<out stem>/<id>.svg``."""
    svg_dir = out.with_suffix("")
    sections = []
    for plot in tqdm(plots, desc="report", unit="plot"):
        svg = vl_convert.vegalite_to_svg(plot.svg_spec()) if plot.spec else None
        if svg is not None:
            with atomic_path(svg_dir / f"{plot.id}.svg") as tmp:
                tmp.write_text(svg)
        sections.append(_section(plot, svg))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n")
    with atomic_path(out) as tmp:
        tmp.write_text(page)
    return out
