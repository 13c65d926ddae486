"""The desktop GUI: view-models (QObject, signals, async slots; no widgets) and views.

Only this package and :mod:`sparklio_desktop.app` import Qt; the core stays Qt-free.
"""
