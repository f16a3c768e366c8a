"""The Lightning base shared by every task: :class:`ClassificationTask`.

A task receives its model and its loss (it never builds them) and holds the science:
the training step (the loss under test, plus Kornblith et al.'s optional extra L2 on the
final layer), the optimiser of the recipe, and the evaluation. Evaluation runs in
Lightning's test loop over named sets (the clean test set, corrupted copies, OOD sets):
``test_step`` gathers logits, labels and, where a task needs them, penultimate features
per set in torchmetrics ``CatMetric`` objects, which also gather across processes under
DDP; ``summarize`` then turns them into the flat metric mapping of the run record.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics.aggregation import CatMetric

from hem_bench.allocator import release_free_memory
from hem_bench.datamodules.loading import tensor_loader
from hem_bench.seeding import derive_seed
from hem_bench.tasks.registry import TaskOptions


def classification_datamodule(config, **split: Any):
    """The classification DataModule of a resolved run configuration, with the task's
    ``split`` (``classes``, ``open_set_known``, ``long_tail``)."""
    from hem_bench.datamodules.classification import ClassificationDataModule

    return ClassificationDataModule.from_config(config, **split)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite during training."""


class ClassificationTask(L.LightningModule):
    """Training and evaluation of a :class:`~hem_bench.models.classifier.Classifier`.

    Subclasses define :meth:`evaluation_sets` (named image sets to test on) and
    :meth:`summarize` (metrics from the gathered outputs); ``needs_features`` makes the
    test loop keep penultimate features too.
    """

    needs_features = False

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        *,
        lr: float,
        momentum: float,
        weight_decay: float,
        optimizer: str = "sgd",
        final_l2: float = 0.0,
        seed: int = 0,
        options: TaskOptions | None = None,
    ) -> None:
        super().__init__()
        self.model, self.loss = model, loss
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        if optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be sgd or adamw; got {optimizer!r}")
        self.optimizer_name = optimizer
        self.final_l2, self.seed = final_l2, seed
        #: the task's options, typed and validated (its ``Options`` model)
        self.options = options
        self.data = None  # the DataModule, attached by the runner for evaluation
        self.set_names: list[str] = []
        self.outputs = nn.ModuleDict()
        self.results: dict[str, float] = {}
        #: files saved into the run folder (e.g. OOD scores)
        self.artifacts: dict[str, Any] = {}
        #: fields added to the run record beside the metrics (e.g. class counts)
        self.record_extra: dict[str, Any] = {}

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    # -- training ------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        # Random draws of the epoch (dropout) depend only on (seed, epoch), so a run resumed
        # from an end-of-epoch checkpoint repeats exactly what it would have done.
        torch.manual_seed(derive_seed(self.seed, "epoch", self.current_epoch))
        set_epoch = getattr(self.loss, "set_epoch", None)  # scheduled losses (LDAM-DRW)
        if callable(set_epoch):
            set_epoch(self.current_epoch, self.trainer.max_epochs)
        self._loss_sum, self._loss_count = torch.zeros((), device=self.device), 0

    def on_train_epoch_end(self) -> None:
        if self._loss_count:
            mean = self._loss_sum / self._loss_count
            self.log("train/loss", mean, prog_bar=True, sync_dist=True)

    def objective(self, logits: Tensor, target: Tensor) -> Tensor:
        loss = self.loss(logits, target)
        if self.final_l2 > 0:
            # lambda/2 ||W||^2 on the output layer's weights, as tf.nn.l2_loss in Kornblith
            # et al.'s released code (lambda = 8e-4 on ImageNet)
            loss = loss + 0.5 * self.final_l2 * self.model.head.weight.square().sum()
        return loss

    def training_loss(self, images: Tensor, target: Tensor) -> Tensor:
        """The loss minimised on one training batch (tasks that train on other inputs, such
        as adversarial training, override this)."""
        return self.objective(self.model(images), target)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        images, target = batch
        loss = self.training_loss(images, target)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"the loss became {loss.item()} at epoch {self.current_epoch}, step "
                f"{self.global_step}; lower the learning rate (--lr) or check the loss's parameters"
            )
        # the epoch's mean loss is logged once, at the epoch's end: a log call per step
        # costs Lightning more than a small model's step
        self._loss_sum = self._loss_sum + loss.detach() * len(target)
        self._loss_count += len(target)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        images, target = batch
        logits = self.model(images)
        acc = (logits.argmax(1) == target).float().mean()
        self.log("val/acc", acc, prog_bar=True, sync_dist=True, batch_size=len(target))
        self.log("val/loss", self.loss(logits, target), sync_dist=True, batch_size=len(target))

    def configure_optimizers(self):
        if self.optimizer_name == "adamw":
            optimizer = torch.optim.AdamW(
                self.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
        else:
            optimizer = torch.optim.SGD(
                self.parameters(),
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
            )
        total = max(1, int(self.trainer.estimated_stepping_batches))

        def cosine(step: int) -> float:  # decay to zero over the run, per step
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # -- evaluation ----------------------------------------------------------------------
    def evaluation_sets(self) -> dict[str, Any]:
        """Named sets to test on; each an ImageSet or a map-style data set of batches."""
        return {"test": self.data.test_set}

    def evaluation_loaders(self) -> list:
        sets = self.evaluation_sets()
        self.set_names = list(sets)
        return [
            s if hasattr(s, "batch_sampler") else tensor_loader(s, self.data.eval_batch_size, False)
            for s in sets.values()
        ]

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == 0 and dataloader_idx > 0:
            # a new evaluation set: what the previous one freed goes back to the system, so
            # that memory stays flat however many sets are evaluated (see hem_bench.allocator)
            release_free_memory()

    def on_test_start(self) -> None:
        names = ["logits", "labels"] + (["features"] if self.needs_features else [])
        self.outputs = nn.ModuleDict(
            {
                f"{i}_{n}": CatMetric().to(self.device)
                for i in range(len(self.set_names))
                for n in names
            }
        )

    def test_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        images, target = batch
        features = self.model.features(images)
        logits = self.model.head(features)
        self.outputs[f"{dataloader_idx}_logits"].update(logits.float())
        self.outputs[f"{dataloader_idx}_labels"].update(target.float())
        if self.needs_features:
            self.outputs[f"{dataloader_idx}_features"].update(features.float())

    def gathered(self, name: str) -> dict[str, Tensor]:
        """``logits``, ``labels`` (and ``features``) of the evaluation set ``name``."""
        index = self.set_names.index(name)
        out = {}
        for key in ("logits", "labels", "features"):
            if f"{index}_{key}" not in self.outputs:
                continue
            value = self.outputs[f"{index}_{key}"].compute().cpu()
            if key == "logits" and value.dim() == 1:  # a single example
                value = value.view(1, -1)
            out[key] = value.long() if key == "labels" else value
        return out

    def on_test_epoch_end(self) -> None:
        self.results = self.summarize()
        # how many examples each evaluation set saw, summed over processes: under DDP every
        # example is evaluated exactly once (the sampler shards without padding)
        if self.outputs and all(f"{i}_labels" in self.outputs for i in range(len(self.set_names))):
            self.record_extra.setdefault(
                "evaluated", {name: len(self.gathered(name)["labels"]) for name in self.set_names}
            )

    def summarize(self) -> dict[str, float]:
        """Metrics of the run record (flat, lowercase, '/'-separated keys)."""
        from hem_bench.metrics.classification import classification_metrics

        test = self.gathered("test")
        return classification_metrics(test["logits"], test["labels"])

    @torch.no_grad()
    def extract(self, data) -> tuple[Tensor, Tensor, Tensor]:
        """Features, logits and labels of an image set, in evaluation mode.

        The outputs are written into tensors made once for the whole set, not gathered
        batch by batch and concatenated: small blocks kept between the batches' large
        temporary ones fragment glibc's heap, which grew by up to 230 MB over the 32,000
        training images of an ``ood`` run (and the concatenation copied everything once
        more)."""
        was_training = self.model.training
        self.model.eval()
        size = len(data)
        feats = logits = labels = None
        start = 0
        for images, target in tensor_loader(data, self.data.eval_batch_size, shuffle=False):
            f = self.model.features(images.to(self.device))
            out = self.model.head(f)
            if feats is None:
                feats = torch.empty((size, *f.shape[1:]), dtype=torch.float32)
                logits = torch.empty((size, *out.shape[1:]), dtype=torch.float32)
                labels = torch.empty((size, *target.shape[1:]), dtype=target.dtype)
            stop = start + len(target)
            feats[start:stop] = f
            logits[start:stop] = out
            labels[start:stop] = target
            start = stop
        self.model.train(was_training)
        if feats is None:
            raise ValueError("cannot extract features of an empty image set")
        return feats, logits, labels
