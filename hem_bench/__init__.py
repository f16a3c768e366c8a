"""hem-bench: a benchmark suite for classification losses.

The package is import-light on purpose: `import hem_bench` (and `hem-bench --help`) does not
import torch or lightning. The loss registry lives in :mod:`hem_bench.losses`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
