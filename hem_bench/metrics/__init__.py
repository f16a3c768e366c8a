"""Metrics: calibration and accuracy (torchmetrics), OOD detection (pytorch-ood)."""
