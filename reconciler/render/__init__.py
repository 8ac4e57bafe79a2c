"""reconciler.render"""
