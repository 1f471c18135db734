"""The parts of `benchmarks/bench_lesion_fidelity.py`, one module per measurement."""
