"""reconciler.spec: strict loading, schema and DICOM checks of spec files (see ``validate``)."""

from reconciler.spec.validate import expand_paths, load_specs, validate_loaded, validate_paths, validate_text

__all__ = ["expand_paths", "load_specs", "validate_loaded", "validate_paths", "validate_text"]
