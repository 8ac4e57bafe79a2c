"""reconciler.apply"""
