"""The YAML of a spec that sets one DICOM attribute of one image set, as a user writes it (for CLI tests)."""

from __future__ import annotations


def one_value_spec(datastore_id: str, image_set_id: str, level: str, keyword: str, value: str) -> str:
    """A spec document targeting IMAGE_SET_ID whose desired state sets LEVEL's KEYWORD to VALUE."""
    return f"""apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {datastore_id}
  imageSetId: {image_set_id}
desired:
  {level}:
    DICOM:
      {keyword}: {value}
"""
