"""Renderer backends (analytic, physics, host CT, MAISI), their
registry and the scanner model."""
