"""reconciler.emulator"""
