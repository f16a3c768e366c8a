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

from pydantic import ValidationInfo, field_validator, model_validator

from hem_bench.errors import ConfigError
from hem_bench.recipes import Recipe
from hem_bench.tasks.registry import (
    POINT_MARGIN,
    Metric,
    Task,
    TaskModule,
    TaskOptions,
    option,
    register_task,
)

#: data sets of scenes composed from digits: options ``scenes`` and a square ``size``
SCENE_DATASETS = ("digit-scenes", "mnist-scenes")


#: limits of the scenes' options: scenes per split, pixels per side, and pixels of one split
#: of the digit scenes (made and held in memory at once: 1e8 is 100,000 scenes of 32x32)
MAX_SCENES, MAX_SIDE, MAX_SCENE_PIXELS = 100_000, 4096, 100_000_000


class SegmentationOptions(TaskOptions):
    #: scenes per split of digit-scenes and mnist-scenes (empty: the data set's)
    scenes: dict[str, int] = option(
        "",
        "digit-scenes and mnist-scenes only: scenes per split, e.g. "
        "'train=400,val=50,test=100' (default: the data set's; 800/100/200 and 3000/200/1000)",
        "train=N,val=N,test=N",
    )
    size: tuple[int, int] | None = option(
        "",
        "image size 'S' or 'H,W' (default: the data set's; scenes: square)",
        "S or H,W in pixels (digit scenes: square)",
    )
    val_fraction: float = option(
        0.1, "training images held out for validation (cityscapes, voc)", "0 to 1", ge=0, le=1
    )
    num_workers: int = option(
        0, "DataLoader worker processes (cityscapes, voc)", "0 to 64", ge=0, le=64
    )

    @model_validator(mode="after")
    def _limits(self, info: ValidationInfo) -> SegmentationOptions:
        for key, count in self.scenes.items():
            if key not in ("train", "val", "test") or not 1 <= count <= MAX_SCENES:
                raise ConfigError(
                    f"scenes: {key}={count} must name train, val or test with 1 to {MAX_SCENES} "
                    "scenes"
                )
        if self.size is not None and not all(1 <= side <= MAX_SIDE for side in self.size):
            raise ConfigError(f"size {self.size[0]},{self.size[1]}: each side is 1 to {MAX_SIDE}")
        dataset = getattr((info.context or {}).get("dataset"), "name", SCENE_DATASETS[0])
        side = self.size or (32, 32)  # the digit scenes' default
        largest = max(self.scenes.values(), default=800)  # their default training scenes
        if dataset in SCENE_DATASETS and largest * side[0] * side[1] > MAX_SCENE_PIXELS:
            raise ConfigError(
                f"scenes of {side[0]}x{side[1]} pixels: {largest} of them exceed the "
                f"{MAX_SCENE_PIXELS:,} pixels a split may hold in memory; make fewer or smaller "
                "scenes"
            )
        return self

    @field_validator("scenes", mode="before")
    @classmethod
    def _scenes(cls, value: Any) -> dict[str, int]:
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        if not str(value).strip():
            return {}
        from hem_bench.datamodules.segmentation import parse_scenes

        return parse_scenes(value)

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> tuple[int, int] | None:
        if isinstance(value, (tuple, list)) or not str(value).strip():
            return tuple(value) if value else None
        from hem_bench.datamodules.segmentation import parse_size

        return parse_size(value)


def make_datamodule(config):
    """The segmentation DataModule of a resolved run configuration and its task options."""
    from hem_bench.datamodules.segmentation import SegmentationDataModule

    options = config.options
    dataset_options: dict[str, Any] = {}
    size = options.size
    if config.dataset in SCENE_DATASETS:
        dataset_options["scenes"] = dict(options.scenes)
        if size is not None:
            if size[0] != size[1]:
                raise ConfigError(f"{config.dataset} canvases are square; got size {size}")
            dataset_options["canvas"] = size[0]
    elif size is not None:
        dataset_options["size"] = size
    return SegmentationDataModule.from_config(
        config,
        val_fraction=float(options.val_fraction),
        num_workers=int(options.num_workers),
        dataset_options=dataset_options,
    )


def _build_segmenter():
    from hem_bench.models.segmentation import build_segmenter

    return build_segmenter


class SegmentationTask(TaskModule):
    """Training as for classification; validation and test by confusion matrix."""

    def __init__(self, model, loss, **kwargs: Any) -> None:
        from hem_bench.metrics.segmentation import confusion_matrix_metric

        super().__init__(model, loss, **kwargs)
        self.num_classes = int(model.num_classes)
        self.val_confusion = confusion_matrix_metric(self.num_classes)
        self.test_confusion = confusion_matrix_metric(self.num_classes)

    # -- validation ----------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.val_confusion.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        images, target = batch
        logits = self.model(images)
        self.val_confusion.update(logits.argmax(1), target)
        self.log("val/loss", self.loss(logits, target), sync_dist=True, batch_size=len(target))

    def on_validation_epoch_end(self) -> None:
        from hem_bench.metrics.segmentation import segmentation_metrics

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

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        import torch

        images, target = batch
        with torch.no_grad():
            self.test_confusion.update(self.model(images).argmax(1), target)

    def summarize(self) -> dict[str, float]:
        """``miou`` (headline), ``pixel_acc``, ``mean_class_acc``, ``dice``, ``iou/<c>``."""
        from hem_bench.metrics.segmentation import segmentation_metrics

        return segmentation_metrics(self.test_confusion.compute().cpu())


SEGMENTATION = register_task(
    Task(
        name="segmentation",
        summary="semantic segmentation: every pixel classified by the loss (mIoU)",
        kind="segmentation",
        default_dataset="digit-scenes",
        options=SegmentationOptions,
        recipes={
            "digit-scenes": Recipe(
                "small-unet",
                12,
                16,
                3e-3,
                weight_decay=1e-4,
                optimizer="adamw",
                output_bias="prior",
                eval_batch_size=200,
                source="recipe of this suite for the embedded scenes (32x32): the built-in "
                "small U-Net (width 16, channels-last), AdamW 3e-3 (weight decay 1e-4), "
                "batch 16, 12 epochs, cosine decay, output bias started at the log pixel "
                "frequency of each class, no augmentation; chosen for cross-entropy (SGD 0.1 "
                "for 18 epochs left it at mIoU 0.42-0.62 over seeds 0-4) to train in about "
                "20 s on one CPU thread",
            ),
            "mnist-scenes": Recipe(
                "small-unet",
                3,
                16,
                3e-3,
                weight_decay=1e-4,
                optimizer="adamw",
                output_bias="prior",
                eval_batch_size=200,
                source="the embedded scenes' recipe (small U-Net of width 16, AdamW 3e-3, "
                "weight decay 1e-4, batch 16, cosine decay, output bias at the log pixel "
                "frequency of each class, no augmentation) for 3 epochs of 3,000 scenes: "
                "chosen for cross-entropy (2 epochs left it at mIoU 0.73 on seed 0, 3 gave "
                "0.85, 4 gave 0.89 at a third more time) to train in about 25 s on one CPU "
                "thread",
            ),
            "cityscapes": Recipe(
                "smp/deeplabv3plus:resnet50",
                160,
                16,
                0.1,
                weight_decay=1e-4,
                flip=True,
                eval_batch_size=8,
                source="DeepLabV3+ (Chen et al. 2018, arXiv:1802.02611) as trained on "
                "Cityscapes by VainF/DeepLabV3Plus-Pytorch: SGD 0.1, momentum 0.9, weight "
                "decay 1e-4, batch 16, 30k iterations (~160 epochs of 2,975 images), flips; "
                "cosine instead of poly decay, no pretrained encoder (offline)",
            ),
            "voc": Recipe(
                "smp/deeplabv3plus:resnet50",
                330,
                16,
                0.01,
                weight_decay=1e-4,
                flip=True,
                eval_batch_size=16,
                source="DeepLabV3+ (Chen et al. 2018, arXiv:1802.02611) as trained on VOC "
                "2012 by VainF/DeepLabV3Plus-Pytorch: SGD 0.01, momentum 0.9, weight "
                "decay 1e-4, batch 16, 30k iterations (~330 epochs of the 1,464 train images), "
                "flips; cosine instead of poly decay, no pretrained encoder (offline)",
            ),
        },
        headline=Metric("miou", margin=POINT_MARGIN),
        key_metrics=(
            Metric("miou", margin=POINT_MARGIN),
            Metric("pixel_acc"),
            Metric("mean_class_acc"),
            Metric("dice"),
        ),
        metric_directions=(Metric("iou/*"),),
        metrics="miou (classes present in prediction or target), pixel_acc, mean_class_acc, "
        "dice, iou/<class> — from one confusion matrix over the test set, 255 ignored",
        datamodule=make_datamodule,
        module=SegmentationTask,
        model_builder=_build_segmenter,
    )
)
