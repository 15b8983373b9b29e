"""One HTML page shell for every report: a readable width, sections, plotly.js once.

``plotly_js`` says where the page finds plotly.js: ``"inline"`` embeds it (a page that
opens anywhere, about 4.6 MB), anything else is a relative path to a shared
``plotly.min.js`` (small pages beside one copy). No page loads from a CDN: reports must
open offline.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1360px;margin:0 auto;padding:0 20px;"
    "color:#222}h1{font-size:26px}h2{font-size:20px;margin-top:28px;border-bottom:1px solid #ddd}"
    "table.data{border-collapse:collapse;font-size:14px;margin:8px 0}"
    "table.data td,table.data th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "table.data th{background:#f3f3f3}table.data td:first-child,table.data th:first-child"
    "{text-align:left}.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}"
    ".note{color:#444;font-size:14px;max-width:1100px}nav a{margin-right:14px}"
)

# open a point's link (its customdata) when it is clicked
CLICK_TO_OPEN = (
    "var plot=document.getElementById('{plot_id}');plot.on('plotly_click',function(d){"
    "var url=d.points[0].customdata;if(typeof url==='string'&&url){window.location.href=url;}});"
)


def figure_html(figure: go.Figure, *, clickable: bool = False) -> str:
    """A figure as a ``<div>`` (plotly.js not included), full width of its container."""
    return str(
        figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
            post_script=CLICK_TO_OPEN if clickable else None,
        )
    )


def page(
    title: str, sections: Sequence[str], plotly_js: str = "inline", head_note: str = ""
) -> str:
    """A whole page: title, an optional note under it, then ``sections`` (HTML)."""
    if plotly_js == "inline":
        from plotly.offline import get_plotlyjs

        script = f"<script type='text/javascript'>{get_plotlyjs()}</script>"
    else:
        script = f"<script src='{html.escape(plotly_js)}'></script>"
    note = f"<p class='note'>{head_note}</p>" if head_note else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style>{script}</head><body><h1>{html.escape(title)}</h1>{note}"
        f"{''.join(sections)}</body></html>"
    )


def section(title: str, body: str, anchor: str = "") -> str:
    """``<section>`` with a heading (and an id to link to)."""
    ident = f" id='{html.escape(anchor)}'" if anchor else ""
    return f"<section{ident}><h2>{html.escape(title)}</h2>{body}</section>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], ident: str = "") -> str:
    """A plain ``<table class='data'>``; cells are HTML already (escape text before)."""
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    attribute = f" id='{ident}'" if ident else ""
    return f"<table class='data'{attribute}><tr>{head}</tr>{body}</table>"


def figures_in(text: str) -> list[dict[str, Any]]:
    """The plotly figures of a page, read back: ``{"id", "data", "layout"}`` each, in page
    order, numeric arrays decoded (plotly writes numpy arrays as base64 ``bdata``)."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', text):
        data, end = decoder.raw_decode(text, match.end())
        start = re.compile(r"\s*,\s*").match(text, end)
        layout, _ = decoder.raw_decode(text, start.end() if start else end)
        found.append({"id": match.group(1), "data": _decoded(data), "layout": _decoded(layout)})
    return found


def _decoded(node: Any) -> Any:
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            array = np.frombuffer(base64.b64decode(node["bdata"]), dtype=np.dtype(node["dtype"]))
            shape = node.get("shape")
            if isinstance(shape, str):
                array = array.reshape([int(n) for n in shape.split(",")])
            return array.tolist()
        return {key: _decoded(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decoded(value) for value in node]
    return node
