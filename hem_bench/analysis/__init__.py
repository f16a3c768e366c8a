"""Representation analysis of trained classifiers (Kornblith et al. 2019, 2021): how
much the loss changes what a network learns.

- :func:`linear_cka`, :class:`MinibatchCKA`, :func:`cka_matrix`: similarity of two
  representations of the same examples (layer by layer, within and across networks);
- :func:`class_separation`: the R² of penultimate features (cosine distance);
- :func:`linear_probe`: accuracy of a logistic-regression probe on frozen features
  (transfer to classes the network never saw);
- :func:`activations`: the outputs of named layers, recorded with forward hooks.

``hem-bench analyze`` (:mod:`hem_bench.analysis.study`) applies them to a results folder.
Importing this package does not import torch; :func:`activations` does when called.
"""

from hem_bench.analysis.activations import activations, default_layers
from hem_bench.analysis.cka import (
    MinibatchCKA,
    cka_matrix,
    hsic_biased,
    hsic_unbiased,
    linear_cka,
    normalized_gram,
)
from hem_bench.analysis.probe import ProbeResult, linear_probe
from hem_bench.analysis.separation import class_separation

__all__ = [
    "MinibatchCKA",
    "ProbeResult",
    "activations",
    "class_separation",
    "cka_matrix",
    "default_layers",
    "hsic_biased",
    "hsic_unbiased",
    "linear_cka",
    "linear_probe",
    "normalized_gram",
]
