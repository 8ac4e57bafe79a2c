"""Reproducible measurements, printed as ratios against a baseline measured in the same run."""
