"""Data: LightningDataModules and the splits every task needs, installed as
``hem_bench.datamodules``.

Kept import-light: importing this package does not import torch or lightning.
"""
