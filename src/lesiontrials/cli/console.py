"""The command line's rich consoles: a terminal keeps rich's layout; piped or redirected
output (a log file, CI) is never wrapped or cut.

Rich lays text out for 80 columns when its output is not a terminal, so names and paths
in logs were split over lines or truncated. When the stream is not a terminal the
console here is very wide with soft wrapping on, so every line is as long as its content
and tables take the width their cells need.
"""

from __future__ import annotations

from rich.console import Console

#: width given to rich when the output is not a terminal (wider than any table we print)
PLAIN_WIDTH = 10_000


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never wraps or cuts when not a terminal."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=PLAIN_WIDTH, soft_wrap=True)


def stage(console: Console, title: str) -> None:
    """A stage heading: a rule on a terminal, a short plain line in a log."""
    if console.is_terminal:
        from rich.rule import Rule

        console.print(Rule(title))
    else:
        console.print(f"== {title} ==", markup=False, highlight=False)


def print_headlines(console: Console, report_html: str | object) -> None:
    """The report's headline accuracies (from its summary.json) and where to go next."""
    import json
    from pathlib import Path

    path = Path(str(report_html))
    summary = path.parent / "summary.json"
    lines = json.loads(summary.read_text()).get("headlines", []) if summary.is_file() else []
    for line in lines:
        console.print(line.replace("**", ""), markup=False, highlight=False)
    console.print(f"report: {path} (Markdown: {path.with_suffix('.md')})", markup=False,
                  highlight=False)
