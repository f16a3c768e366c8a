r"""``adversarial``: robustness to adversarial examples.

Attacks (:mod:`hem_bench.attacks`) come from torchattacks and run in [0, 1] pixel space against the model with its
normalisation inside: FGSM (Goodfellow et al. 2015), PGD (Madry et al. 2018; random start,
step size 2.5 eps / steps by default) and AutoAttack in its standard version (Croce & Hein
2020: APGD-CE, APGD-T, FAB-T, Square). The norm is L-infinity by default, L2 as an option
(``--task-option norm=l2``; "fgsm" is then the L2 fast gradient method, PGD-L2 with one
step of size eps). Default budgets: the digits 0.05, 0.1, 0.2; the MNIST family 0.02, 0.04,
0.06, 0.1, 0.3; CIFAR and SVHN 1/255, 2/255, 4/255, 8/255 (L2: 0.5, 1, 2; 1, 2, 3; 0.25, 0.5,
1). ``attack_subset=N`` runs FGSM and PGD on N test images drawn once with a fixed seed (the
same images for every run; the record's ``attacks.examples`` says which); the clean
accuracy always uses the whole test set.
AutoAttack is slow: it runs on the first ``autoattack_n`` test images (default 200) at the
headline budget only (``autoattack_eps=all`` for every budget); the record states both.

Metrics: clean ``acc``, ``robust_acc/<attack>/<eps>`` for each attack and budget, and the
headline ``robust_acc`` = PGD at the task's default budget (digits 0.1, the MNIST family
0.06, CIFAR 8/255; L2: 1, 2, 0.5).

Adversarial training at the headline budget, ``adv_train_steps`` steps (default 7) of
step 2.5 eps / steps:

- ``adv_train=pgd`` (Madry et al. 2018): every training batch is replaced by PGD examples
  that maximise the loss under test, which is then minimised on them.
- ``adv_train=trades`` (Zhang et al. 2019, "Theoretically principled trade-off between
  robustness and accuracy", L-infinity): the loss under test on the clean batch plus
  ``trades_beta`` (default 6, the paper's CIFAR-10 value) times
  :math:`\mathrm{KL}(p(x) \,\|\, p(x'))` averaged over the batch, where x' maximises
  that KL divergence (torchattacks' TPGD, from x + 0.001 N(0, I)).

In the leaderboard's report the task draws robust accuracy against the budget, one line
per loss, for every attack evaluated at two budgets or more (:func:`plots`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from hem_bench.errors import ConfigError
from hem_bench.recipes import MNIST_RECIPE, RECIPES, mnist_family
from hem_bench.seeding import derive_seed
from hem_bench.tasks.options import EPS_MAX, parse_eps, split_list
from hem_bench.tasks.registry import (
    POINT_MARGIN,
    Metric,
    Task,
    TaskModule,
    TaskOptions,
    option,
    register_task,
)

#: the attacks, in the order their seeds are derived
ATTACKS = ("fgsm", "pgd", "autoattack")
NORMS = ("linf", "l2")
_CIFAR = ["1/255", "2/255", "4/255", "8/255"]
#: the MNIST family, standard training: 0.06 is where cross-entropy's PGD robust accuracy
#: lies mid-way between 0 and its clean accuracy (about 0.4 on MNIST), so the headline can
#: rank losses; Madry et al.'s 0.1 and 0.3, where standard training keeps almost nothing,
#: are reported beside it
_MNIST = ["0.02", "0.04", "0.06", "0.1", "0.3"]
#: default budgets per norm and data set, and the headline budget (last item of the pair)
BUDGETS = {
    "linf": {
        "digits": (["0.05", "0.1", "0.2"], "0.1"),
        "mnist": (_MNIST, "0.06"),
        "fashion-mnist": (_MNIST, "0.06"),
        "kmnist": (_MNIST, "0.06"),
        "cifar10": (_CIFAR, "8/255"),
        "cifar100": (_CIFAR, "8/255"),
        "svhn": (_CIFAR, "8/255"),
    },
    "l2": {
        "digits": (["0.5", "1", "2"], "1"),
        "mnist": (["1", "2", "3"], "2"),
        "fashion-mnist": (["1", "2", "3"], "2"),
        "kmnist": (["1", "2", "3"], "2"),
        "cifar10": (["0.25", "0.5", "1"], "0.5"),
        "cifar100": (["0.25", "0.5", "1"], "0.5"),
        "svhn": (["0.25", "0.5", "1"], "0.5"),
    },
}
FALLBACK = {"linf": (_CIFAR, "8/255"), "l2": (["0.25", "0.5", "1"], "0.5")}


#: seed of the draw of ``attack_subset`` (fixed: every run attacks the same images)
ATTACK_SUBSET_SEED = derive_seed(0, "attack-subset")


class AdversarialOptions(TaskOptions):
    attacks: tuple[str, ...] = option(
        "fgsm,pgd,autoattack", "attacks, comma-separated", "fgsm, pgd, autoattack (any of them)"
    )
    norm: Literal["linf", "l2"] = option("linf", "linf or l2", "linf or l2")
    #: the budgets (empty: the data set's defaults)
    eps: tuple[float, ...] = option(
        "",
        "budgets, e.g. 0.05,0.1 or 2/255,8/255 (default: per data set)",
        "numbers or fractions like 8/255, comma-separated: 0 to 1 (linf), 0 to 1000 (l2)",
    )
    headline_eps: float | None = option(
        "",
        "budget of the headline PGD (default: per data set)",
        "one of eps (without eps: one of the data set's default budgets)",
    )
    pgd_steps: int = option(10, "PGD iterations", "1 to 10000", le=10_000)
    pgd_step_size: float | None = option(
        "",
        "PGD step (default 2.5 eps / steps)",
        "a number > 0 or a fraction, at most the largest budget's limit; empty: 2.5 eps / steps",
    )
    autoattack_n: int = option(
        200, "test images AutoAttack runs on (0: none)", "0 to 1000000", le=1_000_000
    )
    attack_subset: int = option(
        0,
        "run FGSM and PGD on this many test images, drawn once with a fixed seed (0: the "
        "whole test set; clean accuracy always uses the whole test set)",
        "0 to 1000000 (0: the whole test set)",
        ge=0,
        le=1_000_000,
    )
    autoattack_eps: Literal["headline", "all"] = option(
        "headline", "headline or all budgets", "headline or all"
    )
    adv_train: Literal["", "pgd", "trades"] = option(
        "",
        "adversarial training: pgd (Madry et al. 2018) or trades (Zhang et al. 2019)",
        "empty, pgd or trades (trades: norm linf)",
    )
    adv_train_steps: int = option(7, "attack steps of adversarial training", "1 to 1000", le=1000)
    trades_beta: float = option(6.0, "weight of TRADES' KL term", "0 to 10000", le=1e4)

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
    def _together(self, info: ValidationInfo) -> AdversarialOptions:
        limit = EPS_MAX[self.norm]
        for budget in (*self.eps, self.headline_eps or 0.0, self.pgd_step_size or 0.0):
            if budget > limit:
                raise ConfigError(
                    f"attack budget {budget:g} is above the limit of norm {self.norm}, {limit:g}"
                    " (images lie in [0, 1]: "
                    + (
                        "a budget of 1 already reaches every image)"
                        if self.norm == "linf"
                        else "no image of the suite's data is farther from another)"
                    )
                )
        if self.headline_eps is not None:
            if self.eps:
                allowed, where = self.eps, "eps"
            else:
                dataset = (info.context or {}).get("dataset")
                name = getattr(dataset, "name", None)
                budgets = BUDGETS[self.norm].get(name, FALLBACK[self.norm])[0] if name else None
                allowed = tuple(parse_eps(b) for b in budgets) if budgets else None
                where = f"the default budgets of {name} ({', '.join(budgets)})" if budgets else ""
            if allowed is not None and self.headline_eps not in allowed:
                shown = ", ".join(f"{b:g}" for b in allowed)
                raise ConfigError(
                    f"headline_eps={self.headline_eps:g} must be one of {where}"
                    + (f" ({shown})" if where == "eps" else "")
                    + "; give it in eps too"
                )
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


def make_datamodule(config):
    from hem_bench.tasks.base import classification_datamodule

    return classification_datamodule(config)


class AdversarialTask(TaskModule):
    """Clean and robust accuracy, counted as the attacks stream over the test set."""

    def setup(self, stage: str) -> None:
        """The attack settings of the (validated) options; the budgets default to the data
        set's."""
        options = self.options
        self.norm = options.norm
        budgets, headline = BUDGETS[self.norm].get(self.data.dataset, FALLBACK[self.norm])
        self.budgets = [parse_eps(e) for e in budgets]
        self.headline_eps = parse_eps(headline)
        if options.eps:
            self.budgets = list(options.eps)
            self.headline_eps = self.budgets[-1]
        if options.headline_eps is not None:  # one of the budgets (checked by the options)
            self.headline_eps = options.headline_eps
        if self.headline_eps not in self.budgets:
            self.budgets.append(self.headline_eps)
        self.attacks = list(options.attacks)
        self.pgd_steps = options.pgd_steps
        self.pgd_step_size = options.pgd_step_size
        self.autoattack_n = options.autoattack_n
        self.autoattack_all = options.autoattack_eps == "all"
        self.adv_train = options.adv_train
        self.adv_train_steps = options.adv_train_steps
        self.trades_beta = options.trades_beta

    # -- adversarial training --------------------------------------------------------------
    def training_loss(self, images, target):
        import torch

        from hem_bench.attacks import pgd_training_examples, trades_kl, trades_training_examples

        if not self.adv_train:
            return super().training_loss(images, target)
        step_seed = derive_seed(self.seed, "adversarial-training", self.global_step)
        was_training = self.model.training
        self.model.eval()  # the attack sees the network as evaluation will
        if self.adv_train == "pgd":
            adversarial = pgd_training_examples(
                self.model,
                self.loss,
                images,
                target,
                self.headline_eps,
                self.adv_train_steps,
                torch.Generator().manual_seed(step_seed),
                self.norm,
            )
        else:
            adversarial = trades_training_examples(
                self.model, images, self.headline_eps, self.adv_train_steps, step_seed
            )
        self.model.train(was_training)
        if self.adv_train == "pgd":
            return self.objective(self.model(adversarial), target)
        logits = self.model(images)
        regulariser = trades_kl(logits, self.model(adversarial))
        return self.objective(logits, target) + self.trades_beta * regulariser

    # -- evaluation ----------------------------------------------------------------------
    def evaluation_sets(self) -> dict:
        import torch

        from hem_bench.datamodules.base import fixed_subset

        test = self.data.test_set
        sets = {"test": test}
        attacked, self.attacked = fixed_subset(test, self.options.attack_subset, ATTACK_SUBSET_SEED)
        if attacked is not test:
            sets["attacked"] = attacked
        if "autoattack" in self.attacks and self.autoattack_n > 0:
            n = min(self.autoattack_n, len(self.data.test_set))
            sets["autoattack"] = self.data.test_set.subset(torch.arange(n))
        return sets

    def _evaluated(self) -> list[tuple[str, int, float]]:
        """(attack, set index, budget) pairs to evaluate."""
        pairs = []
        for attack in self.attacks:
            if attack == "autoattack":
                if "autoattack" in self.set_names:
                    eps_list = self.budgets if self.autoattack_all else [self.headline_eps]
                    pairs += [(attack, self.set_names.index("autoattack"), e) for e in eps_list]
            else:
                index = self.set_names.index("attacked") if "attacked" in self.set_names else 0
                pairs += [(attack, index, e) for e in self.budgets]
        return pairs

    def on_test_start(self) -> None:
        from torch import nn
        from torchmetrics.aggregation import SumMetric

        from hem_bench.attacks import eps_key

        counters = {"clean_correct", "clean_total"}
        for attack, _, eps in self._evaluated():
            counters |= {f"{attack}|{eps_key(eps)}|correct", f"{attack}|{eps_key(eps)}|total"}
        self.counts = nn.ModuleDict(
            {k.replace(".", "_"): SumMetric().to(self.device) for k in counters}
        )

    def _count(self, name: str, value) -> None:
        import torch

        self.counts[name.replace(".", "_")].update(
            torch.as_tensor(value, dtype=torch.float64, device=self.device)
        )

    def _attack(self, attack: str, eps: float, images, target, batch_idx: int):
        import torch

        from hem_bench.attacks import autoattack, fgsm_or_fgm, pgd

        if eps == 0:
            return images
        seed = derive_seed(self.seed, "attack", batch_idx, ATTACKS.index(attack))
        torch.manual_seed(seed)
        if attack == "fgsm":
            attacker = fgsm_or_fgm(self.model, eps, self.norm)
        elif attack == "pgd":
            attacker = pgd(self.model, eps, self.norm, self.pgd_steps, self.pgd_step_size)
        else:
            attacker = autoattack(self.model, eps, self.norm, self.model.num_classes, seed)
        with torch.enable_grad():
            return attacker(images, target)

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        import torch

        from hem_bench.attacks import eps_key

        images, target = batch
        if dataloader_idx == 0:
            with torch.no_grad():
                correct = (self.model(images).argmax(1) == target).sum()
            self._count("clean_correct", correct)
            self._count("clean_total", len(target))
        for attack, set_index, eps in self._evaluated():
            if set_index != dataloader_idx:
                continue
            adversarial = self._attack(attack, eps, images, target, batch_idx)
            with torch.no_grad():
                correct = (self.model(adversarial).argmax(1) == target).sum()
            self._count(f"{attack}|{eps_key(eps)}|correct", correct)
            self._count(f"{attack}|{eps_key(eps)}|total", len(target))

    def _autoattack_settings(self) -> dict | None:
        from hem_bench.attacks import eps_key

        if "autoattack" not in self.set_names:
            return None
        budgets = self.budgets if self.autoattack_all else [self.headline_eps]
        return {
            "version": "standard",
            "examples": min(self.autoattack_n, len(self.data.test_set)),
            "budgets": [eps_key(e) for e in budgets],
        }

    def summarize(self) -> dict[str, float]:
        from hem_bench.attacks import eps_key

        def total(name: str) -> float:
            return float(self.counts[name.replace(".", "_")].compute())

        results = {"acc": total("clean_correct") / total("clean_total")}
        for attack, _, eps in self._evaluated():
            key = f"{attack}|{eps_key(eps)}"
            results[f"robust_acc/{attack}/{eps_key(eps)}"] = total(f"{key}|correct") / total(
                f"{key}|total"
            )
        results["robust_acc"] = results[f"robust_acc/pgd/{eps_key(self.headline_eps)}"]
        self.record_extra = {
            "attacks": {
                "norm": self.norm,
                "budgets": [eps_key(e) for e in self.budgets],
                # the test images FGSM and PGD ran on (attack_subset)
                "examples": self.attacked,
                "headline": {"attack": "pgd", "eps": eps_key(self.headline_eps)},
                "pgd": {
                    "steps": self.pgd_steps,
                    "step_size": self.pgd_step_size or "2.5 eps / steps",
                    "random_start": True,
                },
                "autoattack": self._autoattack_settings(),
                "adversarial_training": (
                    {
                        "method": self.adv_train,
                        "steps": self.adv_train_steps,
                        "eps": eps_key(self.headline_eps),
                        **({"beta": self.trades_beta} if self.adv_train == "trades" else {}),
                    }
                    if self.adv_train
                    else None
                ),
            }
        }
        return results


def summary_extras(metrics) -> list[str]:
    """Robust accuracy under PGD and AutoAttack at every budget."""
    return [k for k in metrics if k.startswith(("robust_acc/pgd/", "robust_acc/autoattack/"))]


# -- the report: robust accuracy against the budget ------------------------------------------

ROBUST_KEY = re.compile(r"^robust_acc/([^/]+)/([^/]+)$")


def plots(view) -> list:
    """Per attack with ``robust_acc/<attack>/<eps>`` metrics at two budgets or more: robust
    accuracy (mean ± std over seeds) against epsilon, one line per loss (a single budget is
    not drawn: one point per loss says nothing the table does not)."""
    from hem_bench.results.formats import slug
    from hem_bench.results.plotkit import Plot, new_figure, png, text

    rows = view.runs
    curves: dict[str, list[tuple[float, str]]] = {}
    for column in rows.columns:
        match = ROBUST_KEY.match(column)
        if not match or rows[column].isna().all():
            continue
        try:
            eps = float(match.group(2))
        except ValueError:
            continue
        curves.setdefault(match.group(1), []).append((eps, column))
    out = []
    for attack, points in sorted(curves.items()):
        points.sort()
        if len({eps for eps, _ in points}) < 2:
            continue
        figure = new_figure(6.0, 4.0)
        axes = figure.add_subplot()
        for loss, runs in view.by_loss():
            xs, means, stds = [], [], []
            for eps, column in points:
                values = runs[column].dropna().to_numpy(float)
                if len(values):
                    xs.append(eps)
                    means.append(values.mean())
                    stds.append(values.std(ddof=1) if len(values) > 1 else 0.0)
            if xs:
                axes.errorbar(
                    xs,
                    means,
                    yerr=stds,
                    marker="o",
                    capsize=3,
                    label=text(loss),
                    color=view.colours.get(loss),
                )
        axes.set_xlabel("ε (attack budget)")
        axes.set_ylabel("robust accuracy")
        axes.set_ylim(-0.02, 1.02)
        axes.set_title(f"{text(view.label)}: {text(attack)}")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        title = f"{view.label}: robust accuracy against ε ({attack})"
        name = f"robust-{view.name}-{slug(attack)}"
        out.append(Plot(name, title, view.label, "robust", png(figure)))
    return out


#: the MNIST family's recipe for this task (:data:`hem_bench.recipes.MNIST_RECIPE`)
MNIST = replace(
    MNIST_RECIPE,
    source=f"{MNIST_RECIPE.source}; 3 epochs, standard training (the classify recipe); the "
    "headline budget (L-inf 0.06) is where its PGD robust accuracy lies mid-way",
)


ADVERSARIAL = register_task(
    Task(
        name="adversarial",
        summary="robustness to adversarial examples: FGSM, PGD and AutoAttack (torchattacks)",
        kind="classification",
        default_dataset="digits",
        options=AdversarialOptions,
        recipes={**RECIPES, **mnist_family(MNIST)},
        headline=Metric("robust_acc", margin=POINT_MARGIN),
        key_metrics=(Metric("acc"), Metric("robust_acc", margin=POINT_MARGIN)),
        metric_directions=(Metric("robust_acc/*"),),
        metrics="acc (clean); robust_acc/<attack>/<eps> for fgsm, pgd, autoattack; robust_acc "
        "= PGD at the default budget (digits 0.1, MNIST family 0.06, CIFAR 8/255)",
        datamodule=make_datamodule,
        module=AdversarialTask,
        summary_extras=summary_extras,
        plots=plots,
    )
)
