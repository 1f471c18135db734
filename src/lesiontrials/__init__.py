"""lesiontrials: programmable virtual lesion trials in lung CT."""

__version__ = "0.1.0"
