"""Survival head: per-patient CT features + clinical covariates → penalised Cox model.

See docs/survival.md. Stages: :mod:`.features` builds the per-patient table from the nodule
index, :mod:`.simulate` draws outcomes from a documented generating model when the data root
has none, :mod:`.model` fits cross-validated Cox models and :mod:`.metrics` scores them.
"""
