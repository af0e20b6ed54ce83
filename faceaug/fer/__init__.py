"""FER training on faceaug's tables: a torch Dataset over a manifest or faces.parquet, the classic augmentation
pipeline, a compact CNN, and `faceaug fer-eval` (does the expansion help a classifier?)."""

from faceaug.fer.dataset import ManifestDataset

__all__ = ["ManifestDataset"]
