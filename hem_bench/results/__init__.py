"""The results store: one JSON record per run (see :mod:`hem_bench.results.record`)."""
