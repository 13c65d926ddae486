"""Sparklio Desktop: route every content task to the best model, explain it, record its cost."""

# The one version source: pyproject.toml reads it (dynamic version), `sparklio --version`
# and Help → About show it. Plain text here, so reading it imports nothing.
__version__ = "0.1.0"
