"""Benchmarks: speed and memory of the pipeline, written to bench/results/."""
