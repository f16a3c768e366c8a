"""Out-of-distribution detection metrics, from pytorch-ood's functional metrics.

Sign convention: detector scores are *outlier* scores, as pytorch-ood's detectors return
them: higher means more likely out-of-distribution (MSP's score is minus the maximum
softmax probability).

- ``auroc``: area under the ROC curve (the same whichever class is positive);
- ``aupr_in``: area under the precision-recall curve with in-distribution positive;
- ``aupr_out``: the same with OOD positive;
- ``fpr95``: the fraction of OOD examples accepted (scored as in-distribution) at the
  threshold that accepts 95 % of in-distribution examples (in-distribution positive, as in
  Hendrycks & Gimpel 2017 and Liang et al. 2018). pytorch-ood's ``FPR95TPR`` takes OOD as
  the positive class instead, so it is computed here with the classes swapped.
"""

from __future__ import annotations

import torch
from pytorch_ood.metrics import functional as ood_f
from torch import Tensor


def ood_metrics(id_scores: Tensor, ood_scores: Tensor) -> dict[str, float]:
    """The four metrics from outlier scores of in-distribution and OOD examples."""
    scores = torch.cat([id_scores.double().flatten(), ood_scores.double().flatten()])
    labels = torch.cat(
        [
            torch.zeros(id_scores.numel(), dtype=torch.long),
            -torch.ones(ood_scores.numel(), dtype=torch.long),
        ]
    )
    # in-distribution as the positive class: labels < 0 mark positives, larger = more positive
    swapped = torch.where(labels < 0, 0, -1)
    return {
        "auroc": ood_f.auroc(scores, labels).item(),
        "fpr95": ood_f.fpr_at_tpr(-scores, swapped, 0.95).item(),
        "aupr_in": ood_f.aupr(scores, labels, positive="id").item(),
        "aupr_out": ood_f.aupr(scores, labels, positive="ood").item(),
    }
