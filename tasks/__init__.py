"""Tasks: one LightningModule per task family, installed as ``hem_bench.tasks``.

Kept import-light: importing this package does not import torch or lightning.
"""
