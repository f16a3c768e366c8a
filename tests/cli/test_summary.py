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


def _continual_record(matrix):
    """A record of a continual run with accuracy matrix ``matrix`` (R[t][i], i <= t), its
    metrics computed from the definitions (Lopez-Paz & Ranzato 2017; Chaudhry et al. 2018)."""
    last = len(matrix) - 1
    final = matrix[last]
    bwt = sum(final[i] - matrix[i][i] for i in range(last)) / last
    forgetting = (
        sum(max(matrix[t][i] for t in range(i, last)) - final[i] for i in range(last)) / last
    )
    return {"metrics": {"avg_acc": sum(final) / len(final), "bwt": bwt, "forgetting": forgetting}}


def test_continual_summary_explains_the_signs():
    from hem_bench.tasks import get_task

    def summary_notes(record, task="continual"):  # the notes the task puts under its summary
        return get_task(task).summary_notes(record["metrics"])

    forgot = _continual_record([[0.99], [0.40, 0.98], [0.30, 0.50, 0.97]])
    bwt_line, forget_line = summary_notes(forgot)
    assert forgot["metrics"]["bwt"] < 0 and forgot["metrics"]["forgetting"] > 0
    assert bwt_line.startswith(f"bwt {forgot['metrics']['bwt']:+.4f} < 0: old experiences")
    assert "forgotten" in bwt_line
    assert forget_line.startswith(f"forgetting {forgot['metrics']['forgetting']:.4f} > 0")
    # replay improving old experiences: positive transfer, forgetting below zero
    improved = _continual_record([[0.80], [0.85, 0.90], [0.90, 0.95, 0.97]])
    bwt_line, forget_line = summary_notes(improved)
    assert improved["metrics"]["bwt"] > 0 and improved["metrics"]["forgetting"] < 0
    assert "positive backward transfer" in bwt_line
    assert "kept improving" in forget_line
    assert summary_notes({"metrics": {"acc": 0.9}}) == []
    assert summary_notes(forgot, task="classify") == []  # other tasks add no notes
