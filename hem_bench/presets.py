"""The sweep's presets: named grids of runs a researcher can run as they are
(``hem-bench sweep --preset NAME``), each with the settings that make it fit its machine and
the arms (further protocols) that its leaderboard needs. :func:`preset_grid` turns a preset
into the resolved configurations of its runs; :func:`hem_bench.sweep.grid` makes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hem_bench.config import ResolvedConfig
from hem_bench.errors import ConfigError
from hem_bench.recipes import MNIST_FAMILY
from hem_bench.tasks.segmentation import SEGMENTATION

#: the losses compared by the HEM paper on every task (Spratling & Schütt 2025)
CORE_LOSSES = ("ce", "hem", "hem-plus", "logitnorm", "logit-adjusted", "dice", "focal")


#: the learning rate of the segmentation recipe on the embedded scenes
SEGMENTATION_LR = SEGMENTATION.recipe("digit-scenes").lr


#: the offline grid: every task on its embedded data, the core losses, five seeds, each task
#: trained exactly as its default single run (the recipe's epochs; only the evaluation is
#: lighter: three corruption severities, FGSM and PGD without AutoAttack). ``arms`` are
#: further grids of the same losses under another protocol, run with the main grid: here
#: segmentation at a tenth of the recipe's learning rate, so that the leaderboard can show
#: how each loss's segmentation headline depends on the learning rate (a loss whose
#: gradient scale differs from cross-entropy's may prefer another rate). The settings are
#: part of each run's configuration and therefore of its record.
PRESETS: dict[str, dict[str, Any]] = {
    "embedded": {
        "tasks": ["classify", "ood", "adversarial", "imbalanced", "continual", "segmentation"],
        "losses": list(CORE_LOSSES),
        "seeds": [0, 1, 2, 3, 4],
        "per_task": {
            "classify": {"task_options": {"severities": "1,3,5"}},
            # AutoAttack is most of an adversarial run's cost: the grid reports FGSM and
            # PGD (the headline); a single run evaluates AutoAttack too
            "adversarial": {"task_options": {"attacks": "fgsm,pgd", "autoattack_n": 0}},
        },
        # one CPU thread per run, whatever the machine: the run ids of the grid are the same
        # everywhere (the metrics, on processors with the same vector instructions)
        "threads": 1,
        "arms": [
            {
                "name": "segmentation at lr/10",
                "tasks": ["segmentation"],
                "seeds": [0, 1, 2, 3, 4],
                "per_task": {"segmentation": {"lr": float(f"{SEGMENTATION_LR / 10:.6g}")}},
            }
        ],
    },
    # the six tasks on real 28x28 images (MNIST; --datasets fashion-mnist or kmnist for the
    # classification tasks), each with the MNIST family's recipe (hem_bench.recipes), made to
    # fit two CPU cores: the evaluation is lighter than a single run's (corruptions at
    # severities 1, 3, 5 on 1,000 test images; FGSM and PGD on 1,000 test images, AutoAttack
    # on 200 at the headline budget), each subset drawn once with a fixed seed, so every run
    # of every loss sees the same images. Far-OOD sets: the noise sets and the other data sets of the MNIST
    # family found in --data-dir (``ood_sets_present``).
    "mnist": {
        "tasks": ["classify", "ood", "adversarial", "imbalanced", "continual", "segmentation"],
        "losses": list(CORE_LOSSES),
        "seeds": [0, 1, 2, 3, 4],
        # the data set of each kind of task; --datasets replaces those of the kinds it names
        "datasets": {"classification": "mnist", "segmentation": "mnist-scenes"},
        "per_task": {
            "classify": {"task_options": {"severities": "1,3,5", "corruption_subset": 1000}},
            # AutoAttack at the headline budget on the first 200 test images: a check that a
            # loss's robustness under PGD is not gradient masking (its Square attack uses no
            # gradients); with mnist-fast it costs seconds, not most of the run
            "adversarial": {
                "task_options": {
                    "attacks": "fgsm,pgd,autoattack",
                    "autoattack_n": 200,
                    "attack_subset": 1000,
                }
            },
        },
        "ood_sets_present": list(MNIST_FAMILY),
        "threads": 1,
        "arms": [
            {
                # the reference continual learning is measured against: cross-entropy
                # without replay (naive fine-tuning), which forgets every earlier experience
                "name": "continual without replay (ce)",
                "tasks": ["continual"],
                "losses": ["ce"],
                "seeds": [0, 1, 2, 3, 4],
                "per_task": {"continual": {"task_options": {"buffer": 0}}},
            }
        ],
    },
}


def _task_datasets(
    preset: dict[str, Any], tasks: Sequence[str], given: Sequence[str | None] | None
) -> dict[str, list[str | None]]:
    """The data sets each task of a preset runs on: those of ``given`` (``--datasets``) of
    the task's kind (classification or segmentation), else the preset's data set for that
    kind (None: the task's default). A given data set that no task can use is an error."""
    from hem_bench.datamodules.base import dataset_info
    from hem_bench.tasks import get_task

    given = [d for d in (given or []) if d is not None]
    kinds = {d: dataset_info(d).kind for d in given}
    chosen, used = {}, set()
    for task in tasks:
        kind = get_task(task).kind
        mine = [d for d in given if kinds[d] == kind]
        used.update(mine)
        chosen[task] = mine or [preset.get("datasets", {}).get(kind)]
    unused = [d for d in given if d not in used]
    if unused:
        raise ConfigError(
            f"dataset {unused[0]!r} is a {kinds[unused[0]]} data set, and no task of the sweep "
            f"({', '.join(tasks)}) is of that kind"
        )
    return chosen


def _present_ood_sets(
    preset: dict[str, Any],
    per_task: dict[str, dict[str, Any]],
    dataset: str | None,
    settings: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """``per_task`` with the ood task's ``ood_sets`` set to the preset's candidates
    (``ood_sets_present``) found in the data folder, the in-distribution set excluded;
    unchanged where the preset names none or the user chose the OOD sets."""
    from hem_bench.datamodules.base import is_present

    candidates = preset.get("ood_sets_present") or []
    chosen = {
        **per_task.get("ood", {}).get("task_options", {}),
        **(settings.get("task_options") or {}),
    }
    if not candidates or "ood_sets" in chosen:
        return per_task
    found = [n for n in candidates if n != dataset and is_present(n, settings.get("data_dir"))]
    if not found:
        return per_task
    ood = dict(per_task.get("ood", {}))
    ood["task_options"] = {**ood.get("task_options", {}), "ood_sets": ",".join(found)}
    return {**per_task, "ood": ood}


def _preset_cells(
    preset: dict[str, Any],
    tasks: Sequence[str],
    losses: Sequence[str],
    seeds: Sequence[int],
    per_task: dict[str, dict[str, Any]],
    grid_args: dict[str, Any],
) -> list[ResolvedConfig]:
    """The runs of ``tasks`` x their data sets (:func:`_task_datasets`) x ``losses`` x
    ``seeds``, each task's OOD sets completed from the data folder."""
    from hem_bench.sweep import grid

    args = dict(grid_args)
    datasets = _task_datasets(preset, tasks, args.pop("datasets", None))
    settings = args.get("settings") or {}
    configs: list[ResolvedConfig] = []
    for task in tasks:
        for dataset in datasets[task]:
            cell_per_task = _present_ood_sets(preset, per_task, dataset, settings)
            configs += grid(
                [task], losses, seeds, datasets=[dataset], per_task=cell_per_task, **args
            )
    return configs


def preset_grid(
    name: str,
    tasks: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    **grid_args: Any,
) -> list[ResolvedConfig]:
    """Every run of preset ``name``: its main grid, then each arm's (an arm runs the tasks
    of ``tasks`` it names, with its own seeds and the preset's losses, or those of them it
    names). ``tasks``,
    ``losses`` and ``seeds`` replace the preset's (given seeds replace the arms' too);
    ``grid_args`` (settings, per_task, loss_params, ...) go to :func:`grid`, a ``per_task``
    being merged over the preset's; given ``datasets`` replace the preset's data sets of
    their kind (:func:`_task_datasets`)."""
    preset = PRESETS[name]
    if preset.get("threads"):
        settings = dict(grid_args.get("settings") or {})
        if settings.get("threads") is None:
            settings["threads"] = preset["threads"]
        grid_args["settings"] = settings
    tasks = list(tasks or preset["tasks"])
    losses = list(losses or preset["losses"])
    per_task = {k: dict(v) for k, v in preset["per_task"].items()}
    for task, extra in (grid_args.pop("per_task", None) or {}).items():
        per_task.setdefault(task, {}).update(extra)
    configs = _preset_cells(
        preset, tasks, losses, list(seeds or preset["seeds"]), per_task, grid_args
    )
    for arm in preset.get("arms", []):
        arm_tasks = [t for t in arm["tasks"] if t in tasks]
        if not arm_tasks:
            continue
        arm_per_task = {k: dict(v) for k, v in per_task.items()}
        for task, extra in arm["per_task"].items():
            arm_per_task.setdefault(task, {}).update(extra)
        arm_seeds = list(seeds or arm.get("seeds") or preset["seeds"])
        known = {c.run_id for c in configs}  # a flag such as --lr may undo an arm's change
        arm_losses = [loss for loss in losses if loss in arm.get("losses", losses)]
        if not arm_losses:
            continue
        arm = _preset_cells(preset, arm_tasks, arm_losses, arm_seeds, arm_per_task, grid_args)
        configs += [c for c in arm if c.run_id not in known]
    return configs
