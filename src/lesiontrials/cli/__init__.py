"""The command-line interface (``lesiontrials``)."""
