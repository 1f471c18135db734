"""Report layout: the one-screen summary, the table of contents, compact tables and the
Markdown → HTML rendering (anchored headings, links, collapsible ``<details>``).

The report is written once as Markdown and rendered to HTML from it, so both carry the
same content. Headings get stable anchors (:func:`slug`) used by the table of contents in
both formats. Bulky tables sit in ``<details>`` blocks (GitHub renders them in Markdown
too), and a long table shows its first rows with links to the full CSV and Parquet.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

BASELINE_SUFFIX = " (baseline)"
SOURCE_ORDER = {"synthetic": 0, "real": 1}
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def slug(title: str) -> str:
    """Anchor of a heading: lower case, letters/digits/hyphens, spaces → hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return re.sub(r"\s+", "-", text).strip("-") or "section"


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.3f}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).replace("|", "/")


def sources_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered synthetic before real (the bulk of the rows first), stable otherwise."""
    if "source" not in frame.columns or frame.empty:
        return frame
    order = frame["source"].map(lambda s: SOURCE_ORDER.get(str(s), 2))
    return frame.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def markdown_table(frame: pd.DataFrame, *, max_rows: int = 60, full: str = "") -> str:
    """A Markdown table of the first ``max_rows`` rows; ``full`` names the table under
    ``tables/`` holding every row (linked as CSV and Parquet when rows are left out)."""
    if frame.empty:
        return "_(none)_\n"
    shown = frame.head(max_rows)
    lines = ["| " + " | ".join(map(str, shown.columns)) + " |",
             "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |"
              for row in shown.itertuples(index=False)]
    if len(frame) > max_rows:
        where = (f": every row in [tables/{full}.csv](tables/{full}.csv) "
                 f"([Parquet](tables/{full}.parquet))" if full else " in the CSV table")
        lines.append(f"\n_Showing {max_rows} of {len(frame)} rows{where}._")
    return "\n".join(lines) + "\n"


def details(summary: str, body: str) -> str:
    """A collapsible block (HTML ``<details>``; GitHub Markdown renders it too)."""
    return f"\n<details>\n<summary>{html.escape(summary)}</summary>\n\n{body}\n</details>\n"


def table_of_contents(markdown: str) -> str:
    """A list of links to every level-2 and level-3 heading of ``markdown``."""
    lines = ["\n## Contents\n"]
    for line in markdown.splitlines():
        match = re.match(r"^(#{2,3}) (.+)$", line)
        if match:
            indent = "  " if len(match.group(1)) == 3 else ""
            title = match.group(2).strip()
            lines.append(f"{indent}- [{title}](#{slug(title)})")
    return "\n".join(lines) + "\n"


def _inline(text: str) -> str:
    """Escape text, keeping ``[label](href)`` links, ``**strong**``, ```code``` and a
    whole-line ``_emphasis_``."""
    out, last = [], 0
    for match in _LINK.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        out.append(f"<a href='{html.escape(match.group(2), quote=True)}'>"
                   f"{html.escape(match.group(1))}</a>")
        last = match.end()
    out.append(html.escape(text[last:]))
    joined = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", "".join(out))
    joined = re.sub(r"`([^`]+)`", r"<code>\1</code>", joined)
    if joined.startswith("_") and joined.endswith("_") and len(joined) > 2:
        joined = f"<em>{joined[1:-1]}</em>"
    return joined


STYLE = ("body{font-family:sans-serif;max-width:1150px;margin:2em auto;line-height:1.4}"
         "table{border-collapse:collapse;font-size:12px;margin:.5em 0}"
         "td,th{border:1px solid #ccc;padding:2px 6px}th{background:#f3f3f3}"
         "img{max-width:100%}details{margin:.6em 0}summary{cursor:pointer;color:#145}"
         "#summary{background:#f6f8fa;border:1px solid #d0d7de;padding:.2em 1em}"
         "ul{margin:.2em 0}")


def render_html(markdown: str, figures: dict[str, bytes], *, title: str) -> str:
    """Self-contained HTML of the report's Markdown (figures embedded as base64 PNG)."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
           f"</title><style>{STYLE}</style></head><body>"]
    table: list[str] = []
    items: list[str] = []
    in_summary = False

    def flush() -> None:
        if table:
            out.append(_html_table(table))
            table.clear()
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items.clear()

    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        stripped = line.lstrip()
        if stripped.startswith("- "):
            if table:
                flush()
            style = " style='margin-left:1.5em'" if line.startswith("  ") else ""
            items.append(f"<li{style}>{_inline(stripped[2:])}</li>")
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            text = line[level:].strip()
            if in_summary and level <= 2:
                out.append("</div>")
                in_summary = False
            if level == 2 and slug(text) == "summary":
                out.append("<div id='summary'>")
                in_summary = True
                out.append(f"<h2>{html.escape(text)}</h2>")
            else:
                out.append(f"<h{level} id='{slug(text)}'>{html.escape(text)}</h{level}>")
        elif line.startswith("!["):
            name = line[line.index("(") + 1:line.index(")")].removeprefix("figures/")
            png = figures.get(name.removesuffix(".png"))
            if png:
                data = base64.b64encode(png).decode("ascii")
                alt = html.escape(line[2:line.index("]")])
                out.append(f"<p><img alt='{alt}' src='data:image/png;base64,{data}'></p>")
        elif line.startswith(("<details", "</details", "<summary")):
            out.append(line)  # written by :func:`details`, already escaped
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_summary:
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out)


def _html_table(lines: list[str]) -> str:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines
            if not set(line) <= set("|-: ")]
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def label_baselines(frame: pd.DataFrame, baselines: Collection[str]) -> pd.DataFrame:
    """``frame`` with baseline model names suffixed "(baseline)" (for display)."""
    if "model" not in frame.columns or frame.empty:
        return frame
    names = set(baselines)
    return frame.assign(model=[f"{m}{BASELINE_SUFFIX}" if m in names else m
                               for m in frame["model"]])
