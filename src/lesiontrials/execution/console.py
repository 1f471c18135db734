"""The rich console every progress display and command line output goes to: a terminal
keeps rich's layout; piped or redirected output (a log file, CI) is never wrapped or cut.

Rich lays text out for 80 columns when its output is not a terminal, so stage names, case
ids and paths in logs were split over lines or truncated with "…". When the stream is not
a terminal the console here is very wide with soft wrapping on, so every line is as long
as its content and tables take the width their cells need.
"""

from __future__ import annotations

from rich.console import Console

#: width given to rich when the output is not a terminal (wider than any line we print)
PLAIN_WIDTH = 10_000


def output_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never wraps or cuts when not a terminal."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=PLAIN_WIDTH, soft_wrap=True)


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
