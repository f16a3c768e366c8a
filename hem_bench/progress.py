"""The progress bar of a run: Lightning's rich progress bar, made narrow enough that one
line (``Epoch 199/199``, the bar, batches, elapsed and remaining time, and the metrics shown
on the bar: the training loss and one validation metric) fits a 100-column terminal.

Lightning's default line holds a 40-character bar and a speed column: with the metrics it
needs about 125 columns, so a 100-column terminal squeezes its bar to a few characters, and
any narrower one wraps the line at every refresh. Here the speed is left out (the run's
timings are in its record) and the bar is :data:`BAR_WIDTH` characters, so the whole line,
up to ``Epoch 199/199`` and ``10000/10000`` batches, takes at most 100 columns.
"""

from __future__ import annotations

#: characters of the bar itself
BAR_WIDTH = 20


def compact_progress_bar():
    """A :class:`lightning.pytorch.callbacks.RichProgressBar` with a narrower line."""
    from lightning.pytorch.callbacks import RichProgressBar
    from lightning.pytorch.callbacks.progress.rich_progress import (
        CustomBarColumn,
        ProcessingSpeedColumn,
    )

    class CompactProgressBar(RichProgressBar):
        def configure_columns(self, trainer) -> list:
            columns = super().configure_columns(trainer)
            for column in columns:
                if isinstance(column, CustomBarColumn):
                    column.bar_width = BAR_WIDTH
            return [c for c in columns if not isinstance(c, ProcessingSpeedColumn)]

    return CompactProgressBar()
