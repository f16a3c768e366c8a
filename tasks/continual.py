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
import time
from pathlib import Path

import torch
from torch import Tensor

from hem_bench.atomic import atomic_path
from hem_bench.datamodules.continual import ContinualDataModule
from hem_bench.errors import ConfigError
from hem_bench.seeding import generator
from hem_bench.tasks.base import ClassificationTask

#: experiences per data set (class-incremental splits)
DEFAULT_EXPERIENCES = {"cifar100": 10}
FALLBACK_EXPERIENCES = 5


class ReservoirBuffer:
    """A replay buffer of at most ``capacity`` examples filled by reservoir sampling.

    Reservoir sampling (Vitter 1985): the first ``capacity`` examples of the stream fill the
    buffer; afterwards the k-th example (1-based) replaces a uniformly chosen slot with
    probability capacity / k, so the buffer is a uniform sample of the stream seen so far.
    """

    def __init__(self, capacity: int, seed: int = 0) -> None:
        if capacity < 0:
            raise ConfigError(f"the replay buffer size must be >= 0; got {capacity}")
        self.capacity = capacity
        self.generator = generator(seed, "replay-buffer")
        self.seen = 0
        self.images: Tensor | None = None
        self.labels: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.labels is None else len(self.labels)

    def add(self, images: Tensor, labels: Tensor) -> None:
        """Stream ``images`` (in order) through reservoir sampling."""
        for image, label in zip(images, labels):
            self.seen += 1
            if len(self) < self.capacity:
                image, label = image.unsqueeze(0), label.view(1)
                if self.images is None:
                    self.images, self.labels = image.clone(), label.clone()
                else:
                    self.images = torch.cat([self.images, image])
                    self.labels = torch.cat([self.labels, label])
                continue
            if self.capacity == 0:
                continue
            slot = int(torch.randint(self.seen, (1,), generator=self.generator))
            if slot < self.capacity:
                self.images[slot] = image
                self.labels[slot] = label

    def sample(self, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``count`` examples drawn uniformly (with replacement) from the buffer."""
        index = torch.randint(len(self), (count,), generator=generator)
        return self.images[index], self.labels[index]

    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "seen": self.seen,
            "images": self.images,
            "labels": self.labels,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.capacity, self.seen = state["capacity"], state["seen"]
        self.images, self.labels = state["images"], state["labels"]
        self.generator.set_state(state["generator"])


def continual_metrics(matrix: list[list[float]]) -> dict[str, float]:
    """``avg_acc``, ``learning_acc``, ``bwt`` and ``forgetting`` from the lower-triangular
    accuracy matrix ``matrix[t][i]`` (accuracy on experience i after learning experience t,
    i <= t)."""
    last = len(matrix) - 1
    final = matrix[last]
    results = {
        "avg_acc": sum(final[: last + 1]) / (last + 1),
        "learning_acc": sum(matrix[t][t] for t in range(last + 1)) / (last + 1),
    }
    if last == 0:
        results["bwt"] = 0.0
        results["forgetting"] = 0.0
        return results
    results["bwt"] = sum(final[i] - matrix[i][i] for i in range(last)) / last
    results["forgetting"] = (
        sum(max(matrix[later][i] for later in range(i, last)) - final[i] for i in range(last))
        / last
    )
    return results


def make_datamodule(config) -> ContinualDataModule:
    """All the classes, split into the experiences of the options (or the data set's
    default number), fixed now: a count that does not divide the classes fails here."""
    options = config.options
    count = options.experiences or DEFAULT_EXPERIENCES.get(config.dataset, FALLBACK_EXPERIENCES)
    return ContinualDataModule.from_config(
        config, num_experiences=count, shuffle_classes=options.shuffle
    )


class ContinualTask(ClassificationTask):
    """Training with replay; evaluation of one row of the accuracy matrix per test."""

    def setup(self, stage: str) -> None:
        if not hasattr(self, "buffer"):
            self.buffer = ReservoirBuffer(self.options.buffer, self.seed)
            self.total_steps = 0

    def evaluation_sets(self) -> dict:
        """The test sets of the experiences learnt so far (the DataModule's)."""
        return self.data.seen_test_sets()

    def training_step(self, batch, batch_idx):
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


def procedure(config, task: ContinualTask, datamodule, make_trainer, checkpoint):
    """One fit per experience, then a test on every experience seen so far."""
    datamodule.setup()
    experiences = datamodule.experiences
    task.setup("fit")
    state_dir = Path(config.run_dir()) / "checkpoints"
    matrix: list[list[float]] = []
    start_at = 0
    if checkpoint is not None:  # --resume: continue after the last saved experience
        saved = sorted(state_dir.glob("experience-*.pt"))
        if saved:
            from hem_bench.runner import load_checkpoint_safely

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
        with atomic_path(state_dir / f"experience-{t:03d}.pt") as tmp:
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
