"""The desktop GUI: view-models (QObject, signals, async slots; no widgets) and views.

Only this package and :mod:`sparklio_desktop.app` import Qt; the core stays Qt-free.
Importing it applies :mod:`sparklio_desktop.ui._pyside_fix`, a guard against PySide6
6.12.0 reference-count bugs that otherwise abort a long session; the guard does
nothing where PySide6 does not leak.
"""

from sparklio_desktop.ui import _pyside_fix

_pyside_fix.apply()
