"""Web service and static UI: search nodules, browse the map, trials, cases and reports.

Needs the ``web`` extra (``pip install 'lesiontrials[web]'``).
"""

from lesiontrials.apps.app import create_app

__all__ = ["create_app"]
