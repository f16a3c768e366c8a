"""The six built-in tasks: each one :class:`~hem_bench.tasks.registry.Task` object with its
``Options`` model, recipes, headline and key metrics, and references to its DataModule
factory and LightningModule (in ``hem_bench.tasks.<name>``, imported only when called).

Kept import-light (pydantic only, no torch or lightning): ``hem-bench tasks`` and the
validation of a configuration read these objects. The option parsers (class lists, attack
budgets, corruption lists) live here for the same reason; the task modules use them.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any, Literal

from pydantic import field_validator, model_validator

from hem_bench.errors import ConfigError
from hem_bench.recipes import RECIPES, Recipe
from hem_bench.tasks.registry import Metric, Task, TaskOptions, option, register_task

# -- option parsers ---------------------------------------------------------------------------


def split_list(value: Any) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated text (or of a list)."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def parse_classes(text: str) -> list[int] | None:
    """Class indices from ``"0,1,2"`` or ranges ``"0-4"``; ``None`` for ``""`` (all)."""
    text = str(text).strip()
    if not text:
        return None
    classes: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                classes.extend(range(low, high + 1))
            elif part:
                classes.append(int(part))
    except ValueError:
        raise ConfigError(f"classes must be indices or ranges like '0-4,7'; got {text!r}") from None
    return classes


def parse_eps(text: str) -> float:
    """A budget from ``"0.1"`` or ``"8/255"``."""
    try:
        value = float(Fraction(str(text).strip()))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"attack budget {text!r} must be a number such as 0.1 or 8/255") from None
    if value < 0:
        raise ConfigError(f"attack budget {text!r} must be >= 0")
    return value


def parse_corruption_names(text: str) -> tuple[str, ...]:
    """Corruption names from ``all``, ``none`` (or empty) or a comma-separated list."""
    from hem_bench.datamodules.corruptions import available_corruptions

    names = available_corruptions()
    text = str(text).strip()
    if text in ("", "none"):
        return ()
    chosen = names if text == "all" else list(split_list(text))
    for name in chosen:
        if name not in names:
            raise ConfigError(f"unknown corruption {name!r}; available: {', '.join(names)}")
    return tuple(chosen)


def parse_severities(text: str) -> tuple[int, ...]:
    """Corruption severities (integers 1..5) from a comma-separated text."""
    from hem_bench.datamodules.corruptions import check_severity

    levels = []
    for part in str(text).split(","):
        try:
            levels.append(check_severity(int(part)))
        except ValueError:
            raise ConfigError(f"severities must be integers 1..5; got {text!r}") from None
    return tuple(levels)


# -- classify -------------------------------------------------------------------------------


class ClassifyOptions(TaskOptions):
    corruptions: tuple[str, ...] = option(
        "all",
        "corruptions for the shift evaluation: all, none, or a comma-separated list",
        "all, none, or names from hem_bench.datamodules.corruptions",
    )
    severities: tuple[int, ...] = option(
        "1,2,3,4,5", "corruption severities, comma-separated", "integers 1-5, comma-separated"
    )
    corruption_subset: int = option(
        0,
        "evaluate the corruptions on this many test images, drawn once with a fixed seed "
        "(0: the whole test set)",
        "integer >= 0 (0: the whole test set)",
    )
    classes: tuple[int, ...] | None = option(
        "",
        "train on these classes only (comma-separated indices; default all); the others are "
        "kept aside, e.g. for linear-probe transfer",
        "class indices and ranges, e.g. 0-5 or 0,2,4",
    )

    @field_validator("corruptions", mode="before")
    @classmethod
    def _corruptions(cls, value: Any) -> tuple[str, ...]:
        return parse_corruption_names(value)

    @field_validator("severities", mode="before")
    @classmethod
    def _severities(cls, value: Any) -> tuple[int, ...]:
        return parse_severities(value)

    @field_validator("corruption_subset")
    @classmethod
    def _subset(cls, value: int) -> int:
        if value < 0:
            raise ConfigError(
                "task option corruption_subset must be a number of test images >= 0 "
                f"(0: the whole test set); got {value}"
            )
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, value: Any) -> tuple[int, ...] | None:
        parsed = parse_classes(value)
        return None if parsed is None else tuple(parsed)

    @property
    def corruption_pairs(self) -> list[tuple[str, int]]:
        """``(corruption, severity)`` pairs to evaluate."""
        return [(name, level) for name in self.corruptions for level in self.severities]


def _classify_data(config):
    from hem_bench.tasks.classify import make_datamodule

    return make_datamodule(config)


def _classify_module():
    from hem_bench.tasks.classify import ClassifyTask

    return ClassifyTask


CLASSIFY = register_task(
    Task(
        name="classify",
        summary="closed-set accuracy, calibration and robustness to corruptions",
        kind="classification",
        default_dataset="digits",
        options=ClassifyOptions,
        recipes=dict(RECIPES),
        headline=Metric("acc"),
        key_metrics=(
            Metric("acc"),
            Metric("nll", False),
            Metric("ece", False),
            Metric("brier", False),
            Metric("corruption/mean_acc"),
        ),
        metrics="acc, nll, ece (15 bins), brier; acc and ece per corruption and severity; "
        "corruption/mean_acc",
        datamodule=_classify_data,
        module=_classify_module,
    )
)

# -- ood ------------------------------------------------------------------------------------


class OODOptions(TaskOptions):
    known: int = option(
        0, "known classes (0: 6 of 10, else 60 %)", ">= 0, fewer than the classes", ge=0
    )
    ood_sets: tuple[str, ...] = option(
        "",
        "extra OOD data sets (registered names, comma-separated), converted to the "
        "in-distribution image shape",
        "image classification data sets other than the training one",
    )
    noise_count: int = option(1000, "images in each noise OOD set", ">= 1")

    @field_validator("ood_sets", mode="before")
    @classmethod
    def _sets(cls, value: Any) -> tuple[str, ...]:
        return split_list(value)

    @field_validator("noise_count")
    @classmethod
    def _noise(cls, value: int) -> int:
        if value < 1:
            raise ConfigError(f"noise_count must be a positive number of images; got {value}")
        return value


def _ood_data(config):
    from hem_bench.tasks.ood import make_datamodule

    return make_datamodule(config)


def _ood_module():
    from hem_bench.tasks.ood import OODTask

    return OODTask


def _ood_extras(metrics) -> list[str]:
    """The other detectors' AUROC on the unknown classes."""
    return [k for k in metrics if k.endswith("/unknown/auroc") and not k.startswith("msp/")]


OOD = register_task(
    Task(
        name="ood",
        summary="unknown-class rejection (open set, Vaze et al. 2022) and OOD detection",
        kind="classification",
        default_dataset="digits",
        options=OODOptions,
        recipes=dict(RECIPES),
        headline=Metric("auroc"),
        key_metrics=(
            Metric("auroc"),
            Metric("fpr95", False),
            Metric("aupr_in"),
            Metric("aupr_out"),
            Metric("acc"),
        ),
        metrics="acc (closed set); auroc, fpr95, aupr_in, aupr_out per detector (msp, "
        "maxlogit, energy, mahalanobis, vim) and OOD set (unknown, gaussian, uniform, ...)",
        datamodule=_ood_data,
        module=_ood_module,
        summary_extras=_ood_extras,
    )
)

# -- adversarial ----------------------------------------------------------------------------

ATTACKS = ("fgsm", "pgd", "autoattack")
NORMS = ("linf", "l2")


class AdversarialOptions(TaskOptions):
    attacks: tuple[str, ...] = option(
        "fgsm,pgd,autoattack", "attacks, comma-separated", "fgsm, pgd, autoattack (any of them)"
    )
    norm: Literal["linf", "l2"] = option("linf", "linf or l2", "linf or l2")
    #: the budgets (empty: the data set's defaults)
    eps: tuple[float, ...] = option(
        "",
        "budgets, e.g. 0.05,0.1 or 2/255,8/255 (default: per data set)",
        "numbers >= 0 or fractions like 8/255, comma-separated",
    )
    headline_eps: float | None = option(
        "", "budget of the headline PGD (default: per data set)", "one of eps"
    )
    pgd_steps: int = option(10, "PGD iterations", ">= 1")
    pgd_step_size: float | None = option(
        "",
        "PGD step (default 2.5 eps / steps)",
        "a number > 0 or a fraction; empty: 2.5 eps / steps",
    )
    autoattack_n: int = option(200, "test images AutoAttack runs on (0: none)", ">= 0")
    autoattack_eps: Literal["headline", "all"] = option(
        "headline", "headline or all budgets", "headline or all"
    )
    adv_train: Literal["", "pgd", "trades"] = option(
        "",
        "adversarial training: pgd (Madry et al. 2018) or trades (Zhang et al. 2019)",
        "empty, pgd or trades (trades: norm linf)",
    )
    adv_train_steps: int = option(7, "attack steps of adversarial training", ">= 1")
    trades_beta: float = option(6.0, "weight of TRADES' KL term", ">= 0")

    @field_validator("attacks", mode="before")
    @classmethod
    def _attacks(cls, value: Any) -> tuple[str, ...]:
        attacks = split_list(value)
        for attack in attacks:
            if attack not in ATTACKS:
                raise ConfigError(f"unknown attack {attack!r}; available: {', '.join(ATTACKS)}")
        if "pgd" not in attacks:
            raise ConfigError(
                "the attacks must include pgd: the headline is PGD at the default budget"
            )
        return attacks

    @field_validator("norm", mode="before")
    @classmethod
    def _norm(cls, value: Any) -> str:
        norm = str(value).lower()
        if norm not in NORMS:
            raise ConfigError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
        return norm

    @field_validator("eps", mode="before")
    @classmethod
    def _eps(cls, value: Any) -> tuple[float, ...]:
        return tuple(parse_eps(budget) for budget in split_list(value))

    @field_validator("headline_eps", mode="before")
    @classmethod
    def _headline_eps(cls, value: Any) -> float | None:
        text = str(value if value is not None else "").strip()
        return parse_eps(text) if text else None

    @field_validator("pgd_step_size", mode="before")
    @classmethod
    def _step(cls, value: Any) -> float | None:
        return parse_eps(str(value or "0")) or None

    @field_validator("adv_train", mode="before")
    @classmethod
    def _adv_train(cls, value: Any) -> str:
        method = str(value).strip().lower()
        if method not in ("", "pgd", "trades"):
            raise ConfigError(f"adv_train must be 'pgd', 'trades' or empty; got {method!r}")
        return method

    @model_validator(mode="after")
    def _together(self) -> AdversarialOptions:
        if self.adv_train == "trades" and self.norm != "linf":
            raise ConfigError("adv_train=trades is implemented for norm=linf only")
        if self.adv_train_steps < 1 or not self.trades_beta >= 0:
            raise ConfigError(
                f"adv_train_steps must be >= 1 and trades_beta >= 0; got "
                f"{self.adv_train_steps} and {self.trades_beta}"
            )
        if self.pgd_steps < 1 or self.autoattack_n < 0:
            raise ConfigError("pgd_steps must be >= 1 and autoattack_n >= 0")
        return self


def _adversarial_data(config):
    from hem_bench.tasks.adversarial import make_datamodule

    return make_datamodule(config)


def _adversarial_module():
    from hem_bench.tasks.adversarial import AdversarialTask

    return AdversarialTask


def _adversarial_extras(metrics) -> list[str]:
    """Robust accuracy under PGD and AutoAttack at every budget."""
    return [k for k in metrics if k.startswith(("robust_acc/pgd/", "robust_acc/autoattack/"))]


ADVERSARIAL = register_task(
    Task(
        name="adversarial",
        summary="robustness to adversarial examples: FGSM, PGD and AutoAttack (torchattacks)",
        kind="classification",
        default_dataset="digits",
        options=AdversarialOptions,
        recipes=dict(RECIPES),
        headline=Metric("robust_acc"),
        key_metrics=(Metric("acc"), Metric("robust_acc")),
        metrics="acc (clean); robust_acc/<attack>/<eps> for fgsm, pgd, autoattack; robust_acc "
        "= PGD at the default budget (digits 0.1, MNIST 0.3, CIFAR 8/255)",
        datamodule=_adversarial_data,
        module=_adversarial_module,
        summary_extras=_adversarial_extras,
    )
)

# -- imbalanced -----------------------------------------------------------------------------


class ImbalancedOptions(TaskOptions):
    ratio: float = option(
        0.0, "imbalance ratio n_max / n_min (0: digits 10, others 100)", "0 or >= 1"
    )
    kind: Literal["exp", "step"] = option("exp", "exp or step imbalance", "exp or step")

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, value: float) -> float:
        if value != 0 and not value >= 1:
            raise ConfigError(
                f"imbalance ratio must be a finite number >= 1 (0: the data set's default); "
                f"got {value}"
            )
        return value


def _imbalanced_data(config):
    from hem_bench.tasks.imbalanced import make_datamodule

    return make_datamodule(config)


def _imbalanced_module():
    from hem_bench.tasks.imbalanced import ImbalancedTask

    return ImbalancedTask


IMBALANCED = register_task(
    Task(
        name="imbalanced",
        summary="long-tailed training set (Cao et al. 2019), balanced test set",
        kind="classification",
        default_dataset="digits",
        options=ImbalancedOptions,
        recipes=dict(RECIPES),
        headline=Metric("balanced_acc"),
        key_metrics=(
            Metric("balanced_acc"),
            Metric("acc"),
            Metric("macro_f1"),
            Metric("group/many/acc"),
            Metric("group/medium/acc"),
            Metric("group/few/acc"),
        ),
        metrics="balanced_acc, acc, macro_f1, class_acc/<c>, group/<many|medium|few>/acc",
        datamodule=_imbalanced_data,
        module=_imbalanced_module,
    )
)

# -- segmentation ---------------------------------------------------------------------------


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
    num_workers: int = option(0, "DataLoader worker processes (cityscapes, voc)", ">= 0", ge=0)

    @field_validator("scenes", mode="before")
    @classmethod
    def _scenes(cls, value: Any) -> dict[str, int]:
        if isinstance(value, dict) or not str(value).strip():
            return value or {}
        from hem_bench.datamodules.segmentation import parse_scenes

        return parse_scenes(value)

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> tuple[int, int] | None:
        if isinstance(value, tuple) or not str(value).strip():
            return value or None
        from hem_bench.datamodules.segmentation import parse_size

        return parse_size(value)


def _segmentation_data(config):
    from hem_bench.tasks.segmentation import make_datamodule

    return make_datamodule(config)


def _segmentation_module():
    from hem_bench.tasks.segmentation import SegmentationTask

    return SegmentationTask


def _build_segmenter():
    from hem_bench.models.segmentation import build_segmenter

    return build_segmenter


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
        headline=Metric("miou"),
        key_metrics=(
            Metric("miou"),
            Metric("pixel_acc"),
            Metric("mean_class_acc"),
            Metric("dice"),
        ),
        metrics="miou (classes present in prediction or target), pixel_acc, mean_class_acc, "
        "dice, iou/<class> — from one confusion matrix over the test set, 255 ignored",
        datamodule=_segmentation_data,
        module=_segmentation_module,
        model_builder=_build_segmenter,
    )
)

# -- continual ------------------------------------------------------------------------------


class ContinualOptions(TaskOptions):
    buffer: int = option(
        20, "replay buffer size in images (0: naive fine-tuning)", ">= 0 (0: no replay)"
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


def _continual_data(config):
    from hem_bench.tasks.continual import make_datamodule

    return make_datamodule(config)


def _continual_module():
    from hem_bench.tasks.continual import ContinualTask

    return ContinualTask


def _continual_procedure():
    from hem_bench.tasks.continual import procedure

    return procedure


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
        headline=Metric("avg_acc"),
        key_metrics=(
            Metric("avg_acc"),
            Metric("learning_acc"),
            Metric("bwt"),
            Metric("forgetting", False),
        ),
        metrics="avg_acc (mean final accuracy over experiences), learning_acc (mean accuracy "
        "on each experience right after learning it), bwt, forgetting, acc_matrix/<t>/<i>",
        datamodule=_continual_data,
        module=_continual_module,
        procedure=_continual_procedure,
    )
)
