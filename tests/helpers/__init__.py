"""Code several test modules (and the benchmarks) share."""
