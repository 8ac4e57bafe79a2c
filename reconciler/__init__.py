"""ImageSet Reconciler: AWS HealthImaging image-set metadata as code (plan, apply, drift)."""

__version__ = "0.1.0"
