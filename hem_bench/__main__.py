"""``python -m hem_bench`` is the ``hem-bench`` command."""

from hem_bench.cli import entry_point

entry_point()
