"""Filled in by the issue that owns this package."""
