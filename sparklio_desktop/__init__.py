"""Sparklio Desktop: route every content task to the best model, explain it, record its cost."""

__version__ = "0.1.0"
