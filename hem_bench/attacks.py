"""Adversarial attacks for evaluation and training, in [0, 1] pixel space against a model with
its normalisation inside.

Evaluation attacks come from torchattacks: FGSM (Goodfellow et al. 2015; with the L2 norm
the fast gradient method, PGD-L2 with one step of size eps), PGD (Madry et al. 2018;
random start, step size 2.5 eps / steps by default) and AutoAttack in its standard version
(Croce & Hein 2020: APGD-CE, APGD-T, FAB-T, Square). TRADES' examples are torchattacks'
TPGD (Zhang et al. 2019).

Written here, because torchattacks attacks with the model's own loss (cross-entropy), not
the loss under test: :func:`pgd_training_examples`, PGD examples that maximise any loss
(Madry et al.'s adversarial training with the loss under test), and :func:`trades_kl`,
TRADES' regulariser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def eps_key(eps: float) -> str:
    """Metric-key form of a budget: a decimal with up to 6 significant digits."""
    return f"{eps:.6g}"


def fgsm_or_fgm(model: nn.Module, eps: float, norm: str):
    import torchattacks

    if norm == "linf":
        return torchattacks.FGSM(model, eps=eps)
    return torchattacks.PGDL2(model, eps=eps, alpha=eps, steps=1, random_start=False)


def pgd(model: nn.Module, eps: float, norm: str, steps: int, step_size: float | None):
    import torchattacks

    alpha = step_size if step_size else 2.5 * eps / steps
    if norm == "linf":
        return torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    return torchattacks.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=True)


def autoattack(model: nn.Module, eps: float, norm: str, num_classes: int, seed: int):
    import torchattacks

    return torchattacks.AutoAttack(
        model,
        norm="Linf" if norm == "linf" else "L2",
        eps=eps,
        version="standard",
        n_classes=num_classes,
        seed=seed,
    )


def pgd_training_examples(
    model: nn.Module,
    loss_fn: nn.Module,
    images: Tensor,
    target: Tensor,
    eps: float,
    steps: int,
    generator: torch.Generator,
    norm: str = "linf",
) -> Tensor:
    """PGD examples that maximise ``loss_fn`` (Madry et al. 2018), for adversarial training."""
    alpha = 2.5 * eps / steps
    if norm == "linf":
        noise = torch.rand(images.shape, generator=generator).to(images.device) * 2 - 1
        adv = (images + eps * noise).clamp(0, 1)
    else:
        adv = images.clone()
    for _ in range(steps):
        adv = adv.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(loss_fn(model(adv), target), adv)
        if norm == "linf":
            adv = adv.detach() + alpha * grad.sign()
            adv = torch.min(torch.max(adv, images - eps), images + eps)
        else:
            flat = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            adv = adv.detach() + alpha * grad / flat
            delta = adv - images
            scale = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
            adv = images + delta * scale.view(-1, 1, 1, 1)
        adv = adv.clamp(0, 1)
    return adv.detach()


def trades_kl(clean_logits: Tensor, adversarial_logits: Tensor) -> Tensor:
    """TRADES' regulariser (Zhang et al. 2019): ``KL(p(x) || p(x'))`` with p the softmax,
    summed over classes and averaged over the batch."""
    return F.kl_div(
        F.log_softmax(adversarial_logits, dim=1),
        F.log_softmax(clean_logits, dim=1),
        reduction="batchmean",
        log_target=True,
    )


def trades_training_examples(
    model: nn.Module, images: Tensor, eps: float, steps: int, seed: int
) -> Tensor:
    """x' maximising ``KL(p(x) || p(x'))`` in the L-infinity ball (torchattacks' TPGD), its
    random start drawn from ``seed``."""
    import torchattacks

    attack = torchattacks.TPGD(model, eps=eps, alpha=2.5 * eps / steps, steps=steps)
    devices = [images.device] if images.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return attack(images).detach()
