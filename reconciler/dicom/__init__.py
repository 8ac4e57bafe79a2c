"""reconciler.dicom"""
