"""The Qt-free core of Sparklio Desktop: policy, catalog, router, providers, dispatch, ledger.

Nothing in this package imports Qt (an import-linter contract in pyproject.toml enforces it),
so the command line and the GUI share exactly the same behaviour.
"""
