"""What a run prints fits a 100-column terminal: the summary's title and the progress bar."""

from __future__ import annotations

import io

from hem_bench.cli.run import summary_title


def test_summary_title_is_one_line_within_100_columns():
    record = {
        "task": "segmentation",
        "dataset": "digit-scenes",
        "loss": "hem-plus",
        "seed": 4,
        "model": "smp/deeplabv3plus:tu-resnet10t:encoder_depth=3:decoder_channels=64-32-16",
    }
    for width in (60, 80, 100, 200):
        title = summary_title(record, width)
        assert "\n" not in title and len(title) <= min(width, 100)
        assert title.startswith("segmentation / digit-scenes / hem-plus / seed 4")
    short = dict(record, model="digits-cnn")
    assert summary_title(short, 100) == (
        "segmentation / digit-scenes / hem-plus / seed 4 / digits-cnn"
    )


def test_progress_bar_line_fits_100_columns():
    from lightning.pytorch.callbacks import RichProgressBar
    from rich.console import Console
    from rich.progress import Progress, TextColumn

    from hem_bench.progress import compact_progress_bar

    # the metrics Lightning shows on the bar of a classification run, in its format
    metrics = "train/loss: 0.123 val/acc: 0.956"

    def rendered(bar: RichProgressBar, width: int) -> list[str]:
        out = io.StringIO()
        console = Console(file=out, width=width, force_terminal=False, color_system=None)
        progress = Progress(
            *bar.configure_columns(None), TextColumn(metrics), console=console, auto_refresh=False
        )
        progress.add_task("Epoch 199/199", total=10000, completed=7310)
        progress.refresh()
        console.print(progress.get_renderable())
        return [line for line in out.getvalue().splitlines() if line.strip()]

    (line,) = rendered(compact_progress_bar(), 100)  # one line: nothing wrapped
    assert "Epoch 199/199" in line and "7310/10000" in line and metrics in line
    bar = line.split("Epoch 199/199 ", 1)[1].split("7310/10000")[0]
    assert len(bar.rstrip()) >= 14 and len(bar) >= 20  # 73 % of a 20-character bar
    (wide,) = rendered(compact_progress_bar(), 200)
    assert len(wide.rstrip()) <= 100  # what the line needs
    # Lightning's default squeezes its bar at 100 columns: it needs more room
    (default,) = rendered(RichProgressBar(), 200)
    assert len(default.rstrip()) > 100
