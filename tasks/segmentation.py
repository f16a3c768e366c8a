"""``segmentation``: semantic segmentation, every pixel classified by the loss under test.

The model (an smp network, see :mod:`hem_bench.models.segmentation`) gives dense logits
``(N, C, H, W)``; every registered loss accepts them with ``(N, H, W)`` targets and skips
the pixels labelled 255 (the runner passes ``ignore_index=255``, and pixel class counts to
losses that need them). Training is :class:`~hem_bench.tasks.base.ClassificationTask`'s:
the loss under test (plus the optional final-layer L2), SGD with momentum and a per-step
cosine decay, and the non-finite-loss check. Validation accumulates a confusion matrix over
the validation set and logs ``val/miou`` (progress bar) and ``val/pixel_acc``.

Evaluation: one confusion matrix over the whole test set, updated batch by batch
(torchmetrics, summed over processes under DDP), then ``miou`` (headline; mean IoU over
classes present in prediction or target), ``pixel_acc``, ``mean_class_acc``, ``dice`` and
``iou/<class index>`` (see :mod:`hem_bench.metrics.segmentation`).

Data: ``digit-scenes`` (embedded, default; no augmentation: digits are not
mirror-symmetric), ``mnist-scenes`` (composed from the MNIST digits in ``--data-dir``),
``cityscapes`` and ``voc`` from ``--data-dir`` (their validation split is the test set; a
validation subset is carved from the training images).
Task options: ``scenes`` (the scene data sets only), ``size``, ``val_fraction``,
``num_workers``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hem_bench.datamodules.segmentation import SegmentationDataModule, parse_scenes, parse_size
from hem_bench.errors import ConfigError
from hem_bench.metrics.segmentation import confusion_matrix_metric, segmentation_metrics
from hem_bench.tasks.base import ClassificationTask

#: data sets of scenes composed from digits: options ``scenes`` and a square ``size``
SCENE_DATASETS = ("digit-scenes", "mnist-scenes")


def make_datamodule(config) -> SegmentationDataModule:
    """The segmentation DataModule of a resolved run configuration and its task options."""
    options = config.task_options
    dataset_options: dict[str, Any] = {}
    size = parse_size(options.get("size", ""))
    if config.dataset in SCENE_DATASETS:
        dataset_options["scenes"] = parse_scenes(options.get("scenes", ""))
        if size is not None:
            if size[0] != size[1]:
                raise ConfigError(f"{config.dataset} canvases are square; got size {size}")
            dataset_options["canvas"] = size[0]
    elif size is not None:
        dataset_options["size"] = size
    return SegmentationDataModule.from_config(
        config,
        val_fraction=float(options.get("val_fraction", 0.1)),
        num_workers=int(options.get("num_workers", 0)),
        dataset_options=dataset_options,
    )


class SegmentationTask(ClassificationTask):
    """Training as for classification; validation and test by confusion matrix."""

    def __init__(self, model, loss, **kwargs: Any) -> None:
        super().__init__(model, loss, **kwargs)
        self.num_classes = int(model.num_classes)
        self.val_confusion = confusion_matrix_metric(self.num_classes)
        self.test_confusion = confusion_matrix_metric(self.num_classes)

    # -- validation ----------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.val_confusion.reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        images, target = batch
        logits = self.model(images)
        self.val_confusion.update(logits.argmax(1), target)
        self.log("val/loss", self.loss(logits, target), sync_dist=True, batch_size=len(target))

    def on_validation_epoch_end(self) -> None:
        confusion = self.val_confusion.compute()
        if confusion.sum() > 0:
            metrics = segmentation_metrics(confusion.cpu())
            self.log("val/miou", metrics["miou"], prog_bar=True)
            self.log("val/pixel_acc", metrics["pixel_acc"])
        self.val_confusion.reset()

    # -- evaluation ----------------------------------------------------------------------
    def evaluation_sets(self) -> dict[str, Any]:
        return {"test": self.data.test_set}

    def evaluation_loaders(self) -> list:
        sets = self.evaluation_sets()
        self.set_names = list(sets)
        return [self.data.loader(s) for s in sets.values()]

    def on_test_start(self) -> None:
        self.test_confusion.reset()

    @torch.no_grad()
    def test_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        images, target = batch
        self.test_confusion.update(self.model(images).argmax(1), target)

    def summarize(self) -> dict[str, float]:
        """``miou`` (headline), ``pixel_acc``, ``mean_class_acc``, ``dice``, ``iou/<c>``."""
        return segmentation_metrics(self.test_confusion.compute().cpu())
