"""Report layout: anchors, contents, compact tables with full-table links, collapsible
details and the Markdown → HTML rendering."""

from __future__ import annotations

import re

import pandas as pd

from lesiontrials.analysis.report_layout import (
    details,
    markdown_table,
    render_html,
    slug,
    sources_first,
    table_of_contents,
)


def test_slugs_are_stable_anchors():
    assert slug("Trial: my_ggo study") == "trial-my_ggo-study"
    assert slug("Model: majority (baseline)") == "model-majority-baseline"


def test_contents_link_every_section_and_the_html_has_each_anchor():
    markdown = "# T\n\n## Summary\ntext\n" + "".join(
        f"\n## Part {k}\n\n### Trial: t{k}\nbody\n" for k in range(3))
    rest = markdown.split("## Summary\ntext\n", 1)[1]
    page = render_html(markdown.replace("## Part 0", table_of_contents(rest) + "\n## Part 0"),
                       {}, title="T")
    targets = re.findall(r"href='#([^']+)'", page)
    anchors = set(re.findall(r" id='([^']+)'", page))
    assert len(targets) == 6 and set(targets) <= anchors, (targets, anchors)
    assert "<div id='summary'>" in page  # the summary block is its own element


def test_a_long_table_shows_its_top_rows_and_links_the_full_tables():
    frame = pd.DataFrame({"source": ["real"] * 3 + ["synthetic"] * 30, "x": range(33)})
    text = markdown_table(sources_first(frame), max_rows=5, full="cells")
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 5 and all("synthetic" in r for r in rows)  # the bulk first
    assert "Showing 5 of 33 rows" in text and "(tables/cells.csv)" in text
    assert "(tables/cells.parquet)" in text
    page = render_html(text, {}, title="t")
    assert "<a href='tables/cells.csv'>" in page and "<a href='tables/cells.parquet'>" in page


def test_details_collapse_in_html_and_escape_their_title():
    page = render_html("## A\n" + details("Accuracy by <lobe>", "| a |\n|---|\n| 1 |\n"),
                       {}, title="t")
    assert "<details>" in page and "</details>" in page
    assert "<summary>Accuracy by &lt;lobe&gt;</summary>" in page
    assert "<td>1</td>" in page


def test_inline_markup_never_passes_raw_html():
    page = render_html("a **bold** `code` <script>x</script> [l](x.csv)\n", {}, title="t")
    assert "<strong>bold</strong>" in page and "<code>code</code>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
