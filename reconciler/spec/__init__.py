"""reconciler.spec"""
