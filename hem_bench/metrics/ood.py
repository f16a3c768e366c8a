"""Out-of-distribution detection metrics: AUROC and FPR@95%TPR from pytorch-ood's functional
metrics, AUPR as scikit-learn's average precision.

Sign convention: detector scores are *outlier* scores, as pytorch-ood's detectors return
them: higher means more likely out-of-distribution (MSP's score is minus the maximum
softmax probability).

- ``auroc``: area under the ROC curve (the same whichever class is positive);
- ``aupr_in``: area under the precision-recall curve with in-distribution positive, as
  average precision, AP = sum_n (R_n - R_(n-1)) P_n (``sklearn.metrics.
  average_precision_score``, as in Hendrycks et al.'s OOD code), not the trapezoidal area
  pytorch-ood computes (which interpolates linearly and can differ by 0.01 or more);
- ``aupr_out``: the same with OOD positive;
- ``fpr95``: the fraction of OOD examples accepted (scored as in-distribution) at the
  threshold that accepts 95 % of in-distribution examples (in-distribution positive, as in
  Hendrycks & Gimpel 2017 and Liang et al. 2018). pytorch-ood's ``FPR95TPR`` takes OOD as
  the positive class instead, so it is computed here with the classes swapped.
"""

from __future__ import annotations

import torch
from pytorch_ood.metrics import functional as ood_f
from sklearn.metrics import average_precision_score
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
    is_ood = (labels < 0).numpy()
    outlier = scores.numpy()
    return {
        "auroc": ood_f.auroc(scores, labels).item(),
        "fpr95": ood_f.fpr_at_tpr(-scores, swapped, 0.95).item(),
        # clipped: the sum of AP's steps can exceed 1 by a rounding error
        "aupr_in": min(1.0, float(average_precision_score(~is_ood, -outlier))),
        "aupr_out": min(1.0, float(average_precision_score(is_ood, outlier))),
    }


def logit_scores(logits: Tensor) -> dict[str, Tensor]:
    """Outlier scores (higher = more likely OOD) of the logit-based detectors of pytorch-ood:
    MSP (Hendrycks & Gimpel 2017), MaxLogit (Hendrycks et al. 2022) and Energy (Liu et al.
    2020)."""
    from pytorch_ood.detector import EnergyBased, MaxLogit, MaxSoftmax

    return {
        "msp": MaxSoftmax.score(logits),
        "maxlogit": MaxLogit.score(logits),
        "energy": EnergyBased.score(logits),
    }
