"""The version of hem-bench (``hem_bench.__version__``), in a module of its own so that any
module can read it without importing the package's interface."""

__version__ = "0.1.0"
