"""``ood``: unknown-class rejection (open-set recognition) and out-of-distribution detection.

Protocol (Vaze et al. 2022): train on the known classes of an open-set split (6 of 10 for
the digits and CIFAR-10, drawn per seed); score the test images of the known classes
against each OOD set — the test images of the unknown classes first, then Gaussian and
uniform noise (Hendrycks & Gimpel 2017) and any data sets given with
``--task-option ood_sets=...`` (converted to the in-distribution image shape), all
served by the task's DataModule (:class:`~hem_bench.datamodules.ood.OODDataModule`).

Detectors, all from pytorch-ood and all post hoc (none changes the model): MSP (maximum
softmax probability, Hendrycks & Gimpel 2017), MaxLogit (Hendrycks et al. 2022), Energy
(Liu et al. 2020), Mahalanobis (Lee et al. 2018; class means and shared covariance of the
training features) and ViM (Wang et al. 2022; principal subspace of the training features).

Metrics per detector and OOD set: ``<detector>/<set>/auroc``, ``fpr95``, ``aupr_in``,
``aupr_out`` (see :mod:`hem_bench.metrics.ood` for the conventions). The headline
detector, MSP on the unknown classes, is also reported as ``auroc``, ``fpr95``,
``aupr_in``, ``aupr_out``; ``acc`` is the closed-set accuracy on the known classes.
The scores themselves are saved (``scores/ood_scores.npz`` in the run folder) so that
metrics and ROC curves can be recomputed.
"""

from __future__ import annotations

from torch import Tensor

from hem_bench.datamodules.ood import OODDataModule
from hem_bench.tasks.base import ClassificationTask


def make_datamodule(config) -> OODDataModule:
    """The known classes of an open-set split drawn from the seed (Vaze et al. 2022), and
    the OOD sets (noise, ``ood_sets``), checked now and loaded with the data."""
    options = config.options
    return OODDataModule.from_config(
        config,
        open_set_known=options.known,
        noise_count=options.noise_count,
        extra_ood_sets=list(options.ood_sets),
    )


DETECTORS = ("msp", "maxlogit", "energy", "mahalanobis", "vim")
HEADLINE = ("msp", "unknown")


def logit_scores(logits: Tensor) -> dict[str, Tensor]:
    """Outlier scores (higher = more likely OOD) of the logit-based detectors."""
    from pytorch_ood.detector import EnergyBased, MaxLogit, MaxSoftmax

    return {
        "msp": MaxSoftmax.score(logits),
        "maxlogit": MaxLogit.score(logits),
        "energy": EnergyBased.score(logits),
    }


class OODTask(ClassificationTask):
    needs_features = True

    def setup(self, stage: str) -> None:
        # make (and so check) the OOD sets when training starts, not after it: a missing
        # ood_sets data set fails before the first epoch
        self.evaluation_sets()

    def evaluation_sets(self) -> dict:
        """The known classes' test set, then the DataModule's OOD sets."""
        return {"test": self.data.test_set, **self.data.ood_sets}

    def fit_detectors(self) -> dict:
        """Mahalanobis and ViM, fitted on the features of the (known-class) training set."""
        from pytorch_ood.detector import Mahalanobis, ViM

        features, _, labels = self.extract(self.data.train_set)
        mahalanobis = Mahalanobis(None).fit_features(features, labels)
        head_features, weight, bias = self.model.head.linear_form(features)
        dim = head_features.shape[1]
        # ViM's principal subspace: half the feature dimension for these small networks
        # (the paper uses 1000 of 2048 for ImageNet ResNet-50 features); d < D is required
        vim = ViM(None, d=max(1, dim // 2), w=weight.detach().cpu(), b=bias.detach().cpu())
        vim.fit_features(head_features, labels)
        return {"mahalanobis": mahalanobis, "vim": vim}

    def detector_scores(self, fitted: dict, out: dict[str, Tensor]) -> dict[str, Tensor]:
        scores = logit_scores(out["logits"])
        scores["mahalanobis"] = fitted["mahalanobis"].predict_features(out["features"])
        head_features, _, _ = self.model.head.linear_form(out["features"])
        scores["vim"] = fitted["vim"].predict_features(head_features)
        return {name: s.detach().double().cpu() for name, s in scores.items()}

    def summarize(self) -> dict[str, float]:
        from hem_bench.metrics.classification import accuracy
        from hem_bench.metrics.ood import ood_metrics

        fitted = self.fit_detectors()
        test = self.gathered("test")
        results = {"acc": accuracy(test["logits"], test["labels"])}
        id_scores = self.detector_scores(fitted, test)
        saved = {f"{d}/test": s.numpy() for d, s in id_scores.items()}
        for set_name in self.set_names:
            if set_name == "test":
                continue
            ood_scores = self.detector_scores(fitted, self.gathered(set_name))
            for detector in DETECTORS:
                metrics = ood_metrics(id_scores[detector], ood_scores[detector])
                for key, value in metrics.items():
                    results[f"{detector}/{set_name}/{key}"] = value
                saved[f"{detector}/{set_name}"] = ood_scores[detector].numpy()
        for key in ("auroc", "fpr95", "aupr_in", "aupr_out"):
            results[key] = results[f"{HEADLINE[0]}/{HEADLINE[1]}/{key}"]
        self.artifacts["ood_scores"] = saved
        return results
