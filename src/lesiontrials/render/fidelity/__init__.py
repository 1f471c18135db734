"""Fidelity of rendered CT: histograms, noise, texture, edge width,
deep-feature distance (and its encoder)."""
