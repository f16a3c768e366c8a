"""Every seed of a run derives from the run's ``--seed`` here, by purpose.

A run draws random numbers for several purposes: its data splits, the order of training
batches, augmentation, dropout, corrupted test batches, noise OOD images, adversarial
attacks, and a continual learner's replay buffer. Each purpose takes its seed from
:func:`derive_seed`, which mixes the run's seed with the purpose's indices (epoch, step,
batch, severity, ...) by the purpose's formula in :data:`PURPOSES`. A separate seed per
purpose keeps the purposes independent: drawing more corruptions does not shift the
batch order, and a run resumed at an epoch or an experience draws what it would have.

Each formula is Horner's scheme over the purpose's multipliers, ``s = seed`` then
``s = s * m_k + part_k`` for each index ``part_k`` (``multipliers=(1_000_003, 1_000_003)``
gives ``(seed * 1_000_003 + epoch) * 1_000_003 + step``); large primes keep the results of
different index values apart for any index below them. A purpose with no multipliers uses
the run's seed itself; a purpose with a ``fixed`` seed ignores the run's seed (the same
draw for every run). The table keeps the values seeds had before it existed, so that the
same configuration and seed give the same numbers.

Plain integers, no library: numpy's ``SeedSequence.spawn`` and torch's generators do not
reproduce these existing values, and the module is imported where torch is not.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the prime that separates indices below it (epochs, steps, severities, batches)
MIX = 1_000_003


@dataclass(frozen=True)
class Purpose:
    """How one purpose's seed is made from the run's seed and its indices."""

    #: one multiplier per index, applied by Horner's scheme
    multipliers: tuple[int, ...] = ()
    #: names of the indices, in order (for error messages and documentation)
    parts: tuple[str, ...] = ()
    #: a seed that does not depend on the run's seed (None: it does)
    fixed: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.multipliers) != len(self.parts):
            raise ValueError("a purpose needs one multiplier per index")


PURPOSES: dict[str, Purpose] = {
    "split": Purpose(
        description="data splits: validation sets, open-set classes, long-tailed subsets, "
        "the digits' train / validation / test split",
    ),
    "scenes": Purpose(
        (3,), ("split",), description="digit scenes composed for split 0 (train), 1 (val), 2"
    ),
    "experiences": Purpose(description="class order of continual experiences (shuffle=true)"),
    "shuffle": Purpose((100_003,), ("epoch",), description="order of the training batches"),
    "augment": Purpose(
        (MIX, MIX), ("epoch", "step"), description="random crops and flips of a training batch"
    ),
    "epoch": Purpose((MIX,), ("epoch",), description="the global draws of an epoch (dropout)"),
    "corruption": Purpose(
        (MIX, MIX),
        ("severity", "first index"),
        description="a corrupted test batch (severity, index of its first image)",
    ),
    "corruption-subset": Purpose(
        fixed=0, description="the test images corruptions are evaluated on (every run alike)"
    ),
    "noise": Purpose((1,), ("kind",), description="noise OOD images: kind 0 Gaussian, 1 uniform"),
    "ood-set": Purpose(description="loading an extra OOD data set"),
    "attack": Purpose(
        (MIX, 101),
        ("batch", "attack"),
        description="an evaluation attack on a test batch (attack: fgsm 0, pgd 1, autoattack 2)",
    ),
    "attack-subset": Purpose(
        fixed=1, description="the test images FGSM and PGD attack (every run alike)"
    ),
    "adversarial-training": Purpose(
        (MIX,), ("step",), description="the attack of an adversarial training step"
    ),
    "replay-buffer": Purpose(description="reservoir sampling into the replay buffer"),
    "replay-sample": Purpose(
        (MIX,), ("step",), description="the replay batch drawn at a training step"
    ),
    "replay-order": Purpose(
        (7,), ("experience",), description="order an experience's examples stream into the buffer"
    ),
}


def derive_seed(seed: int, purpose: str, *parts: int) -> int:
    """The seed of ``purpose`` for the run seed ``seed`` and the purpose's indices.

    >>> derive_seed(3, "augment", 2, 17) == (3 * 1_000_003 + 2) * 1_000_003 + 17
    True
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown seed purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    spec = PURPOSES[purpose]
    if len(parts) != len(spec.multipliers):
        wanted = ", ".join(spec.parts) or "no index"
        raise ValueError(
            f"seed purpose {purpose!r} takes {len(spec.multipliers)} index(es) ({wanted}); "
            f"got {len(parts)}"
        )
    if spec.fixed is not None:
        return spec.fixed
    value = int(seed)
    for multiplier, part in zip(spec.multipliers, parts):
        value = value * multiplier + int(part)
    return value


def generator(seed: int, purpose: str, *parts: int, device: str = "cpu"):
    """A ``torch.Generator`` on ``device`` seeded with :func:`derive_seed`."""
    import torch

    return torch.Generator(device=device).manual_seed(derive_seed(seed, purpose, *parts))
