"""The DataModule of the ``continual`` task: class-incremental experiences.

:class:`ContinualDataModule` is a classification DataModule over all the classes of a data
set whose classes are split into ``num_experiences`` experiences of disjoint classes
(:func:`~hem_bench.datamodules.splits.class_incremental_experiences`: the natural class
order, or with ``shuffle_classes`` an order drawn from the run's seed, purpose
``experiences`` of :func:`hem_bench.seeding.derive_seed`). The experiences are fixed when
the DataModule is made (when the data set's classes are known before loading, as for every
data set but an image folder, whose classes are counted when :meth:`setup` loads it), so
a count that does not divide the classes is an error before any data loads.

:meth:`~ContinualDataModule.use_experience` makes the training and validation sets (and so
the loaders) those of one experience; :meth:`~ContinualDataModule.seen_test_sets` gives the
test sets of every experience learnt so far. Examples keep their labels over all classes:
the model has a single head over every class (class-incremental learning, no task label).

:class:`ReservoirBuffer` is the episodic memory of experience replay (Chaudhry et al. 2019):
the examples the continual task replays with every batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hem_bench.datamodules.base import ImageSet
from hem_bench.datamodules.classification import ClassificationDataModule
from hem_bench.datamodules.splits import class_incremental_experiences
from hem_bench.errors import ConfigError
from hem_bench.seeding import derive_seed, generator


def keep_classes(data: ImageSet, classes: list[int]) -> ImageSet:
    """The examples of ``data`` whose label is in ``classes``, labels unchanged."""
    keep = torch.isin(data.labels, torch.tensor(classes))
    return ImageSet(data.images[keep], data.labels[keep])


class ContinualDataModule(ClassificationDataModule):
    """A classification DataModule split into class-incremental experiences.

    ``num_experiences``: experiences (a divisor of the number of classes);
    ``shuffle_classes``: draw the class order from the seed (else the natural order).
    Other arguments are :class:`ClassificationDataModule`'s.

    After :meth:`setup`, ``train_set`` and ``val_set`` hold every class until
    :meth:`use_experience` selects one experience's.
    """

    def __init__(
        self, *args: Any, num_experiences: int, shuffle_classes: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.num_experiences = num_experiences
        self.shuffle_classes = bool(shuffle_classes)
        #: the classes of each experience, in the order they are learnt
        self.experiences: list[list[int]] = []
        if self.info.num_classes:
            self.experiences = self._split(self.info.num_classes)
        #: the experience the training and validation sets hold (None: all classes)
        self.current: int | None = None
        self._whole: tuple[ImageSet, ImageSet] | None = None
        self._tests: list[ImageSet] | None = None

    def _split(self, num_classes: int) -> list[list[int]]:
        return class_incremental_experiences(
            num_classes,
            self.num_experiences,
            derive_seed(self.seed, "experiences"),
            self.shuffle_classes,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        super().setup(stage)
        if not self.experiences:  # classes counted from the data (an image folder)
            self.experiences = self._split(self.all_classes)

    def use_experience(self, index: int) -> None:
        """Train and validate on the classes of experience ``index`` from now on."""
        self._require_setup()
        if self._whole is None:
            self._whole = (self.train_set, self.val_set)
        train, val = self._whole
        classes = self.experiences[index]
        self.train_set, self.val_set = keep_classes(train, classes), keep_classes(val, classes)
        self.current = index

    def experience_test_set(self, index: int) -> ImageSet:
        """The test images of experience ``index``."""
        self._require_setup()
        if self._tests is None:
            self._tests = [keep_classes(self.test_set, c) for c in self.experiences]
        return self._tests[index]

    def seen_test_sets(self) -> dict[str, ImageSet]:
        """``experience/<i>``: the test set of every experience up to the current one."""
        if self.current is None:
            return {}
        return {f"experience/{i}": self.experience_test_set(i) for i in range(self.current + 1)}


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
