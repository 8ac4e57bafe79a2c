"""reconciler.plan"""
