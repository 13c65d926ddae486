"""PyInstaller's PySide6 run-time hook, with its one import of Qt deferred to the app's own.

Why: PyInstaller's hook (PyInstaller/hooks/rthooks/pyi_rth_pyside6.py) imports
``PySide6.QtCore`` when the process starts, to register an embedded ``qt.conf``; that loads
Qt and ICU (0.1 s on a quiet machine, 0.45 s on a loaded one) before every command,
``sparklio --version`` and ``sparklio route`` included, which never touch Qt. This hook does
the same environment set-up at start and registers the ``qt.conf`` right after the first
import of ``PySide6.QtCore``, before any Qt object exists: only the window pays, and it was
importing Qt anyway. Registered in rthooks.dat beside it.
"""


def _pyi_rthook():
    import os
    import sys

    from _pyi_rth_utils import is_macos_app_bundle, prepend_path_to_environment_variable
    from _pyi_rth_utils import qt as qt_rth_utils

    qt_rth_utils.ensure_single_qt_bindings_package("PySide6")
    if sys.platform.startswith("win"):
        pyqt_path = os.path.join(sys._MEIPASS, "PySide6")
    else:
        pyqt_path = os.path.join(sys._MEIPASS, "PySide6", "Qt")
    os.environ["QT_PLUGIN_PATH"] = os.path.join(pyqt_path, "plugins")
    if is_macos_app_bundle:
        pyqt_path_res = os.path.normpath(
            os.path.join(sys._MEIPASS, "..", "Resources", os.path.relpath(pyqt_path, sys._MEIPASS))
        )
        os.environ["QML2_IMPORT_PATH"] = os.pathsep.join(
            [os.path.join(pyqt_path_res, "qml"), os.path.join(pyqt_path, "qml")]
        )
    else:
        os.environ["QML2_IMPORT_PATH"] = os.path.join(pyqt_path, "qml")
    if sys.platform.startswith("win"):
        prepend_path_to_environment_variable(sys._MEIPASS, "PATH")
    if sys.platform == "darwin" and not is_macos_app_bundle:
        prepend_path_to_environment_variable(sys._MEIPASS, "DYLD_LIBRARY_PATH")

    class _AfterQtCore:  # a meta path finder (no importlib.abc: that import is for the app to make)
        """Finds nothing itself: when PySide6.QtCore is being imported, wraps the real
        loader so that the qt.conf is registered as soon as the module has run."""

        def find_spec(self, fullname, path, target=None):
            if fullname != "PySide6.QtCore":
                return None
            sys.meta_path.remove(self)  # once; and the lookup below must not find this finder
            for finder in sys.meta_path:
                spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
                if spec is not None and spec.loader is not None:
                    break
            else:
                return None
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)
                qt_rth_utils.create_embedded_qt_conf("PySide6", pyqt_path)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _AfterQtCore())


_pyi_rthook()
del _pyi_rthook
