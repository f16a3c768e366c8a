"""``ood``: unknown-class rejection (open-set recognition) and out-of-distribution detection.

Protocol (Vaze et al. 2022): train on the known classes of an open-set split (6 of 10 for
the digits and CIFAR-10, drawn per seed); score the test images of the known classes
against each OOD set — the test images of the unknown classes first, then Gaussian and
uniform noise (Hendrycks & Gimpel 2017) and any data sets given with
``--task-option ood_sets=...`` (converted to the in-distribution image shape).

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

import torch
from torch import Tensor

from hem_bench.datamodules.base import ImageSet, dataset_info, load_dataset
from hem_bench.datamodules.splits import convert_images, noise_images
from hem_bench.errors import ConfigError
from hem_bench.tasks.base import ClassificationTask, classification_datamodule


def make_datamodule(config):
    """The known classes of an open-set split drawn from the seed (Vaze et al. 2022)."""
    return classification_datamodule(
        config, open_set_known=int(config.task_options.get("known") or 0)
    )


DETECTORS = ("msp", "maxlogit", "energy", "mahalanobis", "vim")
HEADLINE = ("msp", "unknown")
#: cap on the images taken from an extra OOD data set's test split
MAX_EXTRA = 10_000


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
        # build (and so check) the OOD sets when training starts, not after it: a bad
        # noise_count, an unknown or missing ood_sets entry fails before the first epoch
        self.evaluation_sets()

    def evaluation_sets(self) -> dict:
        if getattr(self, "_ood_sets", None) is None:
            self._ood_sets = self._build_ood_sets()
        return self._ood_sets

    def _build_ood_sets(self) -> dict:
        data = self.data
        shape = data.input_shape
        if data.unknown_test is None or len(data.unknown_test) == 0:
            raise ConfigError("the ood task needs unknown classes: the open-set split left none")
        count = self.options.noise_count  # >= 1 (checked by the task's options)
        sets: dict = {
            "test": data.test_set,
            "unknown": ImageSet(
                data.unknown_test.images, torch.full((len(data.unknown_test),), -1)
            ),
            "gaussian": ImageSet(
                noise_images("gaussian", count, shape, self.seed), torch.full((count,), -1)
            ),
            "uniform": ImageSet(
                noise_images("uniform", count, shape, self.seed + 1), torch.full((count,), -1)
            ),
        }
        for name in self.options.ood_sets:
            info = dataset_info(name)
            if info.kind != "classification":
                raise ConfigError(f"OOD set {name!r} must be an image classification data set")
            if name == data.dataset:
                raise ConfigError(f"OOD set {name!r} is the in-distribution data set")
            test = load_dataset(
                name, data.data_dir, data.download, seed=self.seed, verify=data.verify
            ).test
            images = convert_images(test.float_images()[:MAX_EXTRA], shape)
            sets[name] = ImageSet(images, torch.full((len(images),), -1))
        return sets

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
