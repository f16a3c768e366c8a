"""Tasks and training recipes, as plain data (no torch import), so that the command line can
list and validate them before any heavy import.

One recipe per (task, data set), chosen for cross-entropy and used unchanged for every
loss: the comparison is only fair that way (Spratling & Schütt 2025 take all training
hyper-parameters from the cross-entropy literature). Users may override any field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hem_bench.errors import unknown_name


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: SGD with momentum, cosine learning-rate decay to zero over
    the run, weight decay and a small augmentation (random crops after zero padding, and
    horizontal flips where the classes are mirror-invariant)."""

    model: str
    max_epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    crop_padding: int = 0
    flip: bool = False
    eval_batch_size: int = 1024
    #: where the recipe comes from
    source: str = ""


_SMALL = "recipe of this suite for the embedded data: SGD, momentum 0.9, cosine decay"
_MNIST = "LeNet-style CNN recipe (SGD 0.05, momentum 0.9, weight decay 5e-4), 20 epochs"
_CIFAR = "standard CIFAR ResNet recipe (He et al. 2016): SGD 0.1, momentum 0.9, weight decay 5e-4, 200 epochs, crop 4 + flip"

#: recipes of the classification tasks, per data set
RECIPES: dict[str, Recipe] = {
    "digits": Recipe("digits-cnn", 30, 64, 0.05, crop_padding=1, source=_SMALL),
    "mnist": Recipe("mnist-cnn", 20, 128, 0.05, crop_padding=2, source=_MNIST),
    "fashion-mnist": Recipe("mnist-cnn", 20, 128, 0.05, crop_padding=2, source=_MNIST),
    "kmnist": Recipe("mnist-cnn", 20, 128, 0.05, crop_padding=2, source=_MNIST),
    "cifar10": Recipe("resnet18-cifar", 200, 128, 0.1, crop_padding=4, flip=True, source=_CIFAR),
    "cifar100": Recipe("resnet18-cifar", 200, 128, 0.1, crop_padding=4, flip=True, source=_CIFAR),
    "svhn": Recipe(
        "resnet18-cifar",
        40,
        128,
        0.01,
        crop_padding=4,
        source="SVHN ResNet recipe: SGD 0.01, momentum 0.9, weight decay 5e-4, 40 epochs, crop 4",
    ),
    "image-folder": Recipe(
        "timm/resnet18",
        100,
        128,
        0.1,
        crop_padding=8,
        flip=True,
        source="ImageNet-style ResNet-18 from timm, SGD 0.1, cosine, 100 epochs, crop + flip",
    ),
}


@dataclass(frozen=True)
class TaskOption:
    """A setting of one task (``--task-option KEY=VALUE``)."""

    type: type
    default: Any
    help: str


@dataclass(frozen=True)
class TaskSpec:
    """One task family: its data, default data set, metrics and headline."""

    name: str
    summary: str
    #: 'classification' or 'segmentation': the losses it accepts must support this
    kind: str
    default_dataset: str
    #: the task's main metric: (name, higher_is_better)
    headline: tuple[str, bool]
    #: where the LightningModule lives: "module:Class"
    module: str
    metrics: str
    #: "module:function(config) -> LightningDataModule" building the task's data and split
    datamodule: str = ""
    #: "module:function(config, task, datamodule, make_trainer, checkpoint) -> timings": how
    #: the task is trained and evaluated (default: one fit, then one test)
    procedure: str = "hem_bench.runner:fit_and_test"
    #: "module:function" building the model (signature of models.build_classifier)
    model_builder: str = "hem_bench.models:build_classifier"
    options: dict[str, TaskOption] = field(default_factory=dict)
    recipes: dict[str, Recipe] = field(default_factory=lambda: dict(RECIPES))

    def recipe(self, dataset: str) -> Recipe:
        if dataset in self.recipes:
            return self.recipes[dataset]
        raise unknown_name(f"dataset for task {self.name!r}", dataset, self.recipes)


CORRUPTION_OPTION = TaskOption(
    str, "all", "corruptions for the shift evaluation: all, none, or a comma-separated list"
)

TASKS: dict[str, TaskSpec] = {
    "classify": TaskSpec(
        name="classify",
        summary="closed-set accuracy, calibration and robustness to corruptions",
        kind="classification",
        default_dataset="digits",
        headline=("acc", True),
        module="hem_bench.tasks.classify:ClassifyTask",
        datamodule="hem_bench.tasks.classify:make_datamodule",
        metrics="acc, nll, ece (15 bins), brier; acc and ece per corruption and severity; "
        "corruption/mean_acc",
        options={
            "corruptions": CORRUPTION_OPTION,
            "severities": TaskOption(str, "1,2,3,4,5", "corruption severities, comma-separated"),
            "corruption_subset": TaskOption(
                int,
                0,
                "evaluate the corruptions on this many test images, drawn once with a fixed "
                "seed (0: the whole test set)",
            ),
            "classes": TaskOption(
                str,
                "",
                "train on these classes only (comma-separated indices; default all); "
                "the others are kept aside, e.g. for linear-probe transfer",
            ),
        },
    ),
    "ood": TaskSpec(
        name="ood",
        summary="unknown-class rejection (open set, Vaze et al. 2022) and OOD detection",
        kind="classification",
        default_dataset="digits",
        headline=("auroc", True),
        module="hem_bench.tasks.ood:OODTask",
        datamodule="hem_bench.tasks.ood:make_datamodule",
        metrics="acc (closed set); auroc, fpr95, aupr_in, aupr_out per detector (msp, "
        "maxlogit, energy, mahalanobis, vim) and OOD set (unknown, gaussian, uniform, ...)",
        options={
            "known": TaskOption(int, 0, "known classes (0: 6 of 10, else 60 %)"),
            "ood_sets": TaskOption(
                str,
                "",
                "extra OOD data sets (registered names, comma-separated), converted "
                "to the in-distribution image shape",
            ),
            "noise_count": TaskOption(int, 1000, "images in each noise OOD set"),
        },
    ),
    # -- adversarial and imbalanced tasks --
    "adversarial": TaskSpec(
        name="adversarial",
        summary="robustness to adversarial examples: FGSM, PGD and AutoAttack (torchattacks)",
        kind="classification",
        default_dataset="digits",
        headline=("robust_acc", True),
        module="hem_bench.tasks.adversarial:AdversarialTask",
        datamodule="hem_bench.tasks.adversarial:make_datamodule",
        metrics="acc (clean); robust_acc/<attack>/<eps> for fgsm, pgd, autoattack; robust_acc "
        "= PGD at the default budget (digits 0.1, MNIST 0.3, CIFAR 8/255)",
        options={
            "attacks": TaskOption(str, "fgsm,pgd,autoattack", "attacks, comma-separated"),
            "norm": TaskOption(str, "linf", "linf or l2"),
            "eps": TaskOption(
                str, "", "budgets, e.g. 0.05,0.1 or 2/255,8/255 (default: per data set)"
            ),
            "headline_eps": TaskOption(
                str, "", "budget of the headline PGD (default: per data set)"
            ),
            "pgd_steps": TaskOption(int, 10, "PGD iterations"),
            "pgd_step_size": TaskOption(str, "", "PGD step (default 2.5 eps / steps)"),
            "autoattack_n": TaskOption(int, 200, "test images AutoAttack runs on (0: none)"),
            "autoattack_eps": TaskOption(str, "headline", "headline or all budgets"),
            "adv_train": TaskOption(
                str,
                "",
                "adversarial training: pgd (Madry et al. 2018) or trades (Zhang et al. 2019)",
            ),
            "adv_train_steps": TaskOption(int, 7, "attack steps of adversarial training"),
            "trades_beta": TaskOption(float, 6.0, "weight of TRADES' KL term"),
        },
    ),
    "imbalanced": TaskSpec(
        name="imbalanced",
        summary="long-tailed training set (Cao et al. 2019), balanced test set",
        kind="classification",
        default_dataset="digits",
        headline=("balanced_acc", True),
        module="hem_bench.tasks.imbalanced:ImbalancedTask",
        datamodule="hem_bench.tasks.imbalanced:make_datamodule",
        metrics="balanced_acc, acc, macro_f1, class_acc/<c>, group/<many|medium|few>/acc",
        options={
            "ratio": TaskOption(
                float, 0.0, "imbalance ratio n_max / n_min (0: digits 10, others 100)"
            ),
            "kind": TaskOption(str, "exp", "exp or step imbalance"),
        },
    ),
    # -- continual and segmentation tasks --
    "segmentation": TaskSpec(
        name="segmentation",
        summary="semantic segmentation: every pixel classified by the loss (mIoU)",
        kind="segmentation",
        default_dataset="digit-scenes",
        headline=("miou", True),
        module="hem_bench.tasks.segmentation:SegmentationTask",
        datamodule="hem_bench.tasks.segmentation:make_datamodule",
        model_builder="hem_bench.models.segmentation:build_segmenter",
        metrics="miou (classes present in prediction or target), pixel_acc, mean_class_acc, "
        "dice, iou/<class> — from one confusion matrix over the test set, 255 ignored",
        options={
            "scenes": TaskOption(
                str,
                "",
                "digit-scenes only: scenes per split, e.g. 'train=400,val=50,test=100' "
                "(default: the data set's 800/100/200)",
            ),
            "size": TaskOption(
                str, "", "image size 'S' or 'H,W' (default: the data set's; scenes: square)"
            ),
            "val_fraction": TaskOption(
                float, 0.1, "training images held out for validation (cityscapes, voc)"
            ),
            "num_workers": TaskOption(int, 0, "DataLoader worker processes (cityscapes, voc)"),
        },
        recipes={
            "digit-scenes": Recipe(
                "small-unet",
                18,
                16,
                0.1,
                eval_batch_size=200,
                source="recipe of this suite for the embedded scenes (32x32): the built-in "
                "small U-Net (width 16, channels-last), SGD 0.1, momentum 0.9, weight decay "
                "5e-4, batch 16, 18 epochs, cosine decay, no augmentation; chosen for "
                "cross-entropy to train in about 30 s on 2 CPU cores",
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
                "2012 by VainF/DeepLabV3Plus-Pytorch: SGD 0.01, momentum 0.9, weight decay "
                "1e-4, batch 16, 30k iterations (~330 epochs of the 1,464 train images), "
                "flips; cosine instead of poly decay, no pretrained encoder (offline)",
            ),
        },
    ),
    "continual": TaskSpec(
        name="continual",
        summary="class-incremental learning with experience replay (a tiny reservoir buffer)",
        kind="classification",
        default_dataset="digits",
        headline=("avg_acc", True),
        module="hem_bench.tasks.continual:ContinualTask",
        datamodule="hem_bench.tasks.continual:make_datamodule",
        procedure="hem_bench.tasks.continual:procedure",
        metrics="avg_acc (mean final accuracy over experiences), bwt, forgetting, "
        "acc_matrix/<t>/<i>",
        options={
            "buffer": TaskOption(int, 20, "replay buffer size in images (0: naive fine-tuning)"),
            "experiences": TaskOption(int, 0, "experiences (0: 5, CIFAR-100 10)"),
            "shuffle": TaskOption(str, "false", "true: class order drawn from the seed"),
        },
        recipes={
            **{
                name: replace(recipe, max_epochs=max(1, recipe.max_epochs // 3))
                for name, recipe in RECIPES.items()
            },
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
    ),
}


def available_tasks() -> list[str]:
    return sorted(TASKS)


def task_spec(name: str) -> TaskSpec:
    if name not in TASKS:
        raise unknown_name("task", name, TASKS)
    return TASKS[name]


def with_recipe(spec: TaskSpec, dataset: str, **changes: Any) -> Recipe:
    """The task's recipe for ``dataset`` with ``changes`` applied (``None`` values ignored)."""
    recipe = spec.recipe(dataset)
    return replace(recipe, **{k: v for k, v in changes.items() if v is not None})


#: what each task option accepts, shown by ``hem-bench tasks NAME`` beside its type and
#: default (the tasks check these values when a run starts)
OPTION_RANGES: dict[str, dict[str, str]] = {
    "classify": {
        "corruptions": "all, none, or names from hem_bench.datamodules.corruptions",
        "severities": "integers 1-5, comma-separated",
        "corruption_subset": "integer >= 0 (0: the whole test set)",
        "classes": "class indices and ranges, e.g. 0-5 or 0,2,4",
    },
    "ood": {
        "known": ">= 0, fewer than the classes",
        "ood_sets": "image classification data sets other than the training one",
        "noise_count": ">= 1",
    },
    "adversarial": {
        "attacks": "fgsm, pgd, autoattack (any of them)",
        "norm": "linf or l2",
        "eps": "numbers >= 0 or fractions like 8/255, comma-separated",
        "headline_eps": "one of eps",
        "pgd_steps": ">= 1",
        "pgd_step_size": "a number > 0 or a fraction; empty: 2.5 eps / steps",
        "autoattack_n": ">= 0",
        "autoattack_eps": "headline or all",
        "adv_train": "empty, pgd or trades (trades: norm linf)",
        "adv_train_steps": ">= 1",
        "trades_beta": ">= 0",
    },
    "imbalanced": {"ratio": "0 or >= 1", "kind": "exp or step"},
    "segmentation": {
        "scenes": "train=N,val=N,test=N",
        "size": "S or H,W in pixels (digit scenes: square)",
        "val_fraction": "0 to 1",
        "num_workers": ">= 0",
    },
    "continual": {
        "buffer": ">= 0 (0: no replay)",
        "experiences": "0 or 1 to the number of classes",
        "shuffle": "true or false",
    },
}
