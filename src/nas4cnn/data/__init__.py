"""Data sets: loading, splits, input scaling and augmentation."""
