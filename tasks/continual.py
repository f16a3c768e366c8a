"""``continual``: class-incremental learning with experience replay.

Protocol: the classes are split into T experiences of disjoint classes (digits and CIFAR-10:
5 x 2, CIFAR-100: 10 x 10; natural class order, ``--task-option shuffle=true`` draws one
from the seed), learnt one after the other by a single-head classifier over all classes
(class-incremental: no task label at test time, as in Avalanche's SplitMNIST / SplitCIFAR
class-incremental benchmarks). Strategy: experience replay with a tiny episodic memory
(Chaudhry et al. 2019, "On tiny episodic memories in continual learning"): a reservoir
buffer of ``buffer`` examples (default 20 images, 2 per digit class in the end, against
~1,080 training images): every training batch of the current experience is joined by a
batch of the same size drawn uniformly from the buffer, and the loss under test is applied
to both. After an experience is learnt its training examples stream once through reservoir
sampling (Vitter 1985): the k-th example of the stream takes a uniformly chosen slot with
probability m / k once the buffer holds m. ``buffer=0`` is naive fine-tuning.

The digits recipe trains each experience for 20 epochs in batches of 16 (~270 SGD steps),
enough for cross-entropy to learn each new experience (accuracy >= 0.95 on it right after,
the diagonal of the accuracy matrix), so that what the later rows lose is forgetting, not
under-training; with 20 images of replay cross-entropy still forgets much of the older
experiences (backward transfer around -0.4).

Lightning's Trainer runs one fit per experience (the recipe's epochs each, a fresh SGD
with the recipe's schedule: the same optimiser policy for every experience); the model and
the buffer carry across experiences. After each experience the model is tested on the
test sets of all experiences seen so far.

Metrics (Lopez-Paz & Ranzato 2017; Chaudhry et al. 2018), with R[t][i] the accuracy on
experience i after learning experience t: ``acc_matrix/<t>/<i>`` (i <= t); ``avg_acc``
(headline) = mean_i R[T-1][i]; ``bwt`` = mean_{i<T-1} (R[T-1][i] - R[i][i]);
``forgetting`` = mean_{i<T-1} max_{i<=l<T-1} (R[l][i] - R[T-1][i]); ``learning_acc`` =
mean_i R[i][i], the accuracy on each experience right after learning it (Riemer et al. 2019's
learning accuracy). ``bwt`` and ``forgetting`` measure forgetting only where
``learning_acc`` is high: a model that never learns the later experiences forgets nothing
of them (bwt near 0). The record keeps the
matrix (``accuracy_matrix``, None above the diagonal) and the experiences' classes.

Interrupted runs resume at experience granularity: the state after each experience (model,
buffer, accuracy rows) is saved in the run folder and ``--resume`` continues after the last
saved experience. The saved states are read with ``torch.load(weights_only=True)`` (tensors
and plain data): a file planted in ``checkpoints/`` cannot run code.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import replace

from pydantic import ValidationInfo, field_validator

from hem_bench.errors import ConfigError
from hem_bench.recipes import MNIST_RECIPE, RECIPES, Recipe, mnist_family
from hem_bench.tasks.registry import (
    POINT_MARGIN,
    Metric,
    Task,
    TaskModule,
    TaskOptions,
    option,
    register_task,
)

#: experiences per data set (class-incremental splits)
DEFAULT_EXPERIENCES = {"cifar100": 10}
FALLBACK_EXPERIENCES = 5


class ContinualOptions(TaskOptions):
    buffer: int = option(
        20,
        "replay buffer size in images (0: naive fine-tuning)",
        "0 to 1000000 (0: no replay)",
        le=1_000_000,
    )
    experiences: int = option(
        0, "experiences (0: 5, CIFAR-100 10)", "0 or 1 to the number of classes", ge=0
    )
    shuffle: bool = option(False, "true: class order drawn from the seed", "true or false")

    @field_validator("buffer")
    @classmethod
    def _buffer(cls, value: int) -> int:
        if value < 0:
            raise ConfigError(f"the replay buffer size must be >= 0; got {value}")
        return value

    @field_validator("experiences")
    @classmethod
    def _experiences(cls, value: int, info: ValidationInfo) -> int:
        dataset = (info.context or {}).get("dataset")
        classes = getattr(dataset, "num_classes", 0)  # 0: decided by the data
        if value and classes and (value > classes or classes % value):
            raise ConfigError(
                f"task option experiences={value}: {classes} classes do not divide into {value} "
                f"experiences of equal size (data set {dataset.name}); choose a divisor of "
                f"{classes}"
            )
        return value


def make_datamodule(config):
    """All the classes, split into the experiences of the options (or the data set's
    default number), fixed now: a count that does not divide the classes fails here."""
    from hem_bench.datamodules.continual import ContinualDataModule

    options = config.options
    count = options.experiences or DEFAULT_EXPERIENCES.get(config.dataset, FALLBACK_EXPERIENCES)
    return ContinualDataModule.from_config(
        config, num_experiences=count, shuffle_classes=options.shuffle
    )


class ContinualTask(TaskModule):
    """Training with replay; evaluation of one row of the accuracy matrix per test."""

    def setup(self, stage: str) -> None:
        from hem_bench.datamodules.continual import ReservoirBuffer

        if not hasattr(self, "buffer"):
            self.buffer = ReservoirBuffer(self.options.buffer, self.seed)
            self.total_steps = 0

    def evaluation_sets(self) -> dict:
        """The test sets of the experiences learnt so far (the DataModule's)."""
        return self.data.seen_test_sets()

    def training_step(self, batch, batch_idx):
        import torch

        from hem_bench.seeding import generator

        images, target = batch
        if len(self.buffer):
            draw = generator(self.seed, "replay-sample", self.total_steps)
            replay_images, replay_labels = self.buffer.sample(len(target), draw)
            replay_images = replay_images.to(images.device)
            if replay_images.dtype == torch.uint8:
                # the buffer keeps images as the data set stores them (MNIST, CIFAR: uint8
                # 0..255); the batch they join is in [0, 1], as ImageSet.batch makes it
                replay_images = replay_images.float().div_(255.0)
            images = torch.cat([images, replay_images.to(images.dtype)])
            target = torch.cat([target, replay_labels.to(target.device)])
        self.total_steps += 1
        return super().training_step((images, target), batch_idx)

    def summarize(self) -> dict[str, float]:
        from hem_bench.metrics.classification import accuracy

        out = {}
        for name in self.set_names:
            gathered = self.gathered(name)
            out[name] = accuracy(gathered["logits"], gathered["labels"])
        return out


def procedure(config, task, datamodule, make_trainer, checkpoint):
    """One fit per experience, then a test on every experience seen so far."""
    import torch

    from hem_bench.atomic import atomic_path
    from hem_bench.metrics.continual import continual_metrics
    from hem_bench.run_folder import RunFolder
    from hem_bench.seeding import generator

    datamodule.setup()
    experiences = datamodule.experiences
    task.setup("fit")
    folder = RunFolder(config.run_dir())
    matrix: list[list[float]] = []
    start_at = 0
    if checkpoint is not None:  # --resume: continue after the last saved experience
        saved = sorted(folder.checkpoints.glob("experience-*.pt"))
        if saved:
            from hem_bench.checkpoints import load_checkpoint_safely

            state = load_checkpoint_safely(saved[-1], "cpu")  # weights_only: no code runs
            task.model.load_state_dict(state["model"])
            task.buffer.load_state_dict(state["buffer"])
            matrix, task.total_steps = state["matrix"], state["total_steps"]
            start_at = len(matrix)
    timings = {"fit": 0.0, "test": 0.0}
    for t in range(start_at, len(experiences)):
        datamodule.use_experience(t)
        trainer = make_trainer()
        begin = time.perf_counter()
        trainer.fit(task, datamodule=datamodule)
        timings["fit"] += time.perf_counter() - begin
        order = torch.randperm(
            len(datamodule.train_set), generator=generator(config.seed, "replay-order", t)
        )
        task.buffer.add(datamodule.train_set.images[order], datamodule.train_set.labels[order])
        begin = time.perf_counter()
        trainer.test(task, dataloaders=task.evaluation_loaders(), verbose=False)
        timings["test"] += time.perf_counter() - begin
        matrix.append([task.results[f"experience/{i}"] for i in range(t + 1)])
        state = {
            "model": task.model.state_dict(),
            "buffer": task.buffer.state_dict(),
            "matrix": matrix,
            "total_steps": task.total_steps,
        }
        with atomic_path(folder.checkpoint(f"experience-{t:03d}.pt")) as tmp:
            torch.save(state, tmp)
    results = continual_metrics(matrix)
    for t, row in enumerate(matrix):
        for i, value in enumerate(row):
            results[f"acc_matrix/{t}/{i}"] = value
    task.results = results
    size = len(experiences)
    task.record_extra = {
        "accuracy_matrix": [row + [None] * (size - len(row)) for row in matrix],
        "experiences": experiences,
        "buffer": {
            "size": task.buffer.capacity,
            "stored": len(task.buffer),
            "strategy": "experience replay, reservoir sampling",
        },
    }
    if any(math.isnan(v) for v in results.values()):
        raise ConfigError("an experience has no test images; use fewer experiences")
    return timings


def summary_notes(metrics) -> list[str]:
    """How to read the run summary's signs: BWT and forgetting, whose sign flips when replay
    improves old experiences."""
    if "bwt" not in metrics or "forgetting" not in metrics:
        return []
    bwt, forgetting = metrics["bwt"], metrics["forgetting"]
    if bwt < 0:
        bwt_text = (
            f"bwt {bwt:+.4f} < 0: old experiences ended {-bwt:.4f} less accurate, on average, "
            "than just after they were learnt (they were forgotten)"
        )
    else:
        bwt_text = (
            f"bwt {bwt:+.4f} >= 0: positive backward transfer: old experiences ended at least "
            "as accurate as just after they were learnt (later training, with replay, "
            "helped them)"
        )
    if forgetting > 0:
        forget_text = (
            f"forgetting {forgetting:.4f} > 0: each old experience's final accuracy is that "
            "much below its best, on average"
        )
    else:
        forget_text = (
            f"forgetting {forgetting:.4f} <= 0: no old experience ended below its best "
            "accuracy (lower is better; negative means it kept improving)"
        )
    return [bwt_text, forget_text]


# -- the report: accuracy matrices -----------------------------------------------------------

MATRIX_KEY = re.compile(r"^acc_matrix/(\d+)/(\d+)$")


def accuracy_matrix(runs):
    """The mean over seeds of ``acc_matrix/<t>/<i>`` as a T x I array (NaN where absent)."""
    import numpy as np

    cells = {}
    for column in runs.columns:
        match = MATRIX_KEY.match(column)
        if match and runs[column].notna().any():
            cells[(int(match.group(1)), int(match.group(2)))] = float(runs[column].mean())
    if not cells:
        return np.zeros((0, 0))
    matrix = np.full(
        (max(t for t, _ in cells) + 1, max(i for _, i in cells) + 1), np.nan, dtype=float
    )
    for (t, i), value in cells.items():
        matrix[t, i] = value
    return matrix


def plots(view) -> list:
    """A heatmap per loss of the accuracy on experience i (columns) after training
    experience t (rows), the mean over seeds."""
    import numpy as np

    from hem_bench.results.plotkit import Plot, grid, new_figure, png, text

    groups = [(loss, accuracy_matrix(runs)) for loss, runs in view.by_loss()]
    groups = [(loss, m) for loss, m in groups if m.size]
    if not groups:
        return []
    n_rows, n_columns = grid(len(groups), 3)
    figure = new_figure(3.6 * n_columns + 0.8, 3.4 * n_rows + 0.4)
    image = None
    for index, (loss, matrix) in enumerate(groups, start=1):
        axes = figure.add_subplot(n_rows, n_columns, index)
        image = axes.imshow(
            np.ma.masked_invalid(matrix), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto"
        )
        for (t, i), value in np.ndenumerate(matrix):
            if not math.isnan(value):
                axes.text(
                    i,
                    t,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if value < 0.6 else "black",
                )
        axes.set_xticks(range(matrix.shape[1]))
        axes.set_yticks(range(matrix.shape[0]))
        axes.set_xlabel("evaluated on experience i")
        axes.set_ylabel("after training experience t")
        axes.set_title(text(loss), fontsize="medium")
    figure.colorbar(image, ax=figure.axes, shrink=0.8, label="accuracy")
    figure.suptitle(f"{text(view.label)}: accuracy matrix")
    title = f"{view.label}: continual accuracy matrix"
    return [Plot(f"acc-matrix-{view.name}", title, view.label, "acc_matrix", png(figure))]


#: the MNIST family's recipe for this task (:data:`hem_bench.recipes.MNIST_RECIPE`)
MNIST = replace(
    MNIST_RECIPE,
    max_epochs=1,
    batch_size=64,
    source=f"{MNIST_RECIPE.source}; one epoch per experience (the single pass of Chaudhry et "
    "al. 2019) in batches of 64 joined by 64 replayed images: each experience learnt (>= "
    "0.97 right after it) and much of it forgotten with a 20-image buffer",
)


CONTINUAL = register_task(
    Task(
        name="continual",
        summary="class-incremental learning with experience replay (a tiny reservoir buffer)",
        kind="classification",
        default_dataset="digits",
        options=ContinualOptions,
        recipes={
            **{
                name: replace(recipe, max_epochs=max(1, recipe.max_epochs // 3))
                for name, recipe in RECIPES.items()
            },
            **mnist_family(MNIST),
            "digits": Recipe(
                "digits-cnn",
                20,
                16,
                0.05,
                crop_padding=1,
                source="recipe of this suite for class-incremental digits: the digits recipe "
                "(SGD 0.05, momentum 0.9, weight decay 5e-4, cosine decay, crop 1) with "
                "batches of 16 for 20 epochs per experience (about 270 steps on its ~215 "
                "images), so that cross-entropy learns each experience (>= 0.95 on it "
                "right after, on every seed 0-4; 15 epochs left one seed at 0.93)",
            ),
        },
        headline=Metric("avg_acc", margin=POINT_MARGIN),
        key_metrics=(
            Metric("avg_acc", margin=POINT_MARGIN),
            Metric("learning_acc"),
            Metric("bwt"),
            Metric("forgetting", False),
        ),
        metric_directions=(Metric("acc_matrix/*"),),
        metrics="avg_acc (mean final accuracy over experiences), learning_acc (mean accuracy "
        "on each experience right after learning it), bwt, forgetting, acc_matrix/<t>/<i>",
        datamodule=make_datamodule,
        module=ContinualTask,
        procedure=lambda: procedure,
        summary_notes=summary_notes,
        plots=plots,
    )
)
