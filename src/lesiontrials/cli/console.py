"""The command line's rich consoles: a terminal keeps rich's layout; piped or redirected
output (a log file, CI) is never wrapped or cut (:mod:`lesiontrials.execution.console`,
shared with the library's progress displays)."""

from __future__ import annotations

from rich.console import Console

from lesiontrials.execution.console import PLAIN_WIDTH, output_console

__all__ = ["PLAIN_WIDTH", "make_console", "print_headlines", "stage"]


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never wraps or cuts when not a terminal."""
    return output_console(stderr=stderr)


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


def model_label(name: str, version: str) -> str:
    """A model as a log line names it: ``threshold v1 (config 67889e24)`` for the
    ``{version}+{parameter hash}`` identities of the built-in models, ``name v2`` for a
    bare version number, ``name (version …)`` otherwise (a checkpoint digest, a tag)."""
    import re

    text = str(version).strip()
    match = re.fullmatch(r"v?(\d[\w.\-]*)\+([0-9a-fA-F]{6,})", text)
    if match:
        return f"{name} v{match.group(1)} (config {match.group(2)[:8]})"
    if re.fullmatch(r"v?\d[\w.\-]*", text):
        return f"{name} v{text.removeprefix('v')}"
    return f"{name} (version {text})" if text else name
