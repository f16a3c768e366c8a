"""Session-wide test hygiene."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """A run made in this process (``main([...])``) sets torch's thread count, which is part
    of the run id: restore it after each test, so that later tests resolve the run ids their
    subprocesses will use."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)
