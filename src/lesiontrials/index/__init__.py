"""The nodule index: dataset adapters → one validated table, queries, donor matching."""

from lesiontrials.index.build import IndexBuild, build_index, read_dataset, write_index
from lesiontrials.index.matcher import PlacementTarget, match_donors
from lesiontrials.index.query import NoduleIndex, NoduleQuery
from lesiontrials.index.stats import dataset_stats

__all__ = [
    "IndexBuild",
    "NoduleIndex",
    "NoduleQuery",
    "PlacementTarget",
    "build_index",
    "dataset_stats",
    "match_donors",
    "read_dataset",
    "write_index",
]
