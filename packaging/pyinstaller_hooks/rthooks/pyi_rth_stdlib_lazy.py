"""PyInstaller's run-time hooks for inspect, pkgutil and multiprocessing, applied when the app
first imports each module instead of when the process starts.

Why: PyInstaller's own hooks (PyInstaller/hooks/rthooks/pyi_rth_inspect.py, pyi_rth_pkgutil.py,
pyi_rth_multiprocessing.py, 6.22.3) import their module at start to patch it: inspect (with
ast, dis and tokenize), zipfile to list base_library.zip (with bz2, lzma, shutil and
threading), pkgutil, and multiprocessing with its spawn machinery, which the app never uses.
That was about a third of ``sparklio --version`` in the bundle, and multiprocessing was an
import that the window's launch in a checkout does not make (packaging/README.md, "Start-up").
The patches are PyInstaller's, unchanged; each runs right after its module's first import,
before any caller can use the module. Registered in rthooks.dat for all three modules (a user
hook directory is read first, so these entries win over PyInstaller's); runs once.
"""


def _pyi_rthook():
    import os
    import sys

    if getattr(sys, "_sparklio_stdlib_lazy", False):  # listed three times in rthooks.dat
        return
    sys._sparklio_stdlib_lazy = True

    def patch_inspect(inspect):
        # PyInstaller's pyi_rth_inspect: inspect.getsourcefile() resolves the relative file
        # names of frozen code objects (its comments explain the cases).
        import zipfile

        SYS_PREFIX = os.path.normpath(sys._MEIPASS)
        BASE_LIBRARY = os.path.join(SYS_PREFIX, "base_library.zip")

        def _get_base_library_files(filename):
            if not os.path.isfile(filename):
                return set()
            with zipfile.ZipFile(filename, "r") as zf:
                namelist = zf.namelist()
            return {os.path.normpath(entry) for entry in namelist}

        base_library_files = _get_base_library_files(BASE_LIBRARY)
        _orig_inspect_getsourcefile = inspect.getsourcefile

        def _pyi_getsourcefile(obj):
            filename = inspect.getfile(obj)
            filename = os.path.normpath(filename)
            if not os.path.isabs(filename):
                main_file = getattr(sys.modules["__main__"], "__file__", None)
                if main_file and filename == os.path.basename(main_file):
                    return main_file
                pyc_filename = filename + "c"
                if pyc_filename in base_library_files:
                    return os.path.normpath(os.path.join(BASE_LIBRARY, pyc_filename))
                return os.path.normpath(os.path.join(SYS_PREFIX, filename))
            elif filename.startswith(SYS_PREFIX):
                return filename
            return _orig_inspect_getsourcefile(obj)

        inspect.getsourcefile = _pyi_getsourcefile

    def patch_pkgutil(pkgutil):
        # PyInstaller's pyi_rth_pkgutil: pkgutil.iter_modules() lists what the PYZ archive holds.
        import pyimod02_importers

        def _iter_pyi_frozen_finder_modules(finder, prefix=""):
            pyz_toc_tree = pyimod02_importers.get_pyz_toc_tree()
            if finder._pyz_entry_prefix:
                pkg_name_parts = finder._pyz_entry_prefix.split(".")
            else:
                pkg_name_parts = []
            tree_node = pyz_toc_tree
            for pkg_name_part in pkg_name_parts:
                tree_node = tree_node.get(pkg_name_part)
                if not isinstance(tree_node, dict):
                    tree_node = {}
                    break
            for entry_name, entry_data in tree_node.items():
                is_pkg = isinstance(entry_data, dict)
                yield prefix + entry_name, is_pkg
            if finder.fallback_finder is not None:
                yield from pkgutil.iter_importer_modules(finder.fallback_finder, prefix)

        pkgutil.iter_importer_modules.register(pyimod02_importers.PyiFrozenFinder, _iter_pyi_frozen_finder_modules)

    def patch_multiprocessing(multiprocessing):
        # PyInstaller's pyi_rth_multiprocessing: freeze_support() runs the helper and worker
        # processes that multiprocessing starts by running this executable again.
        import multiprocessing.spawn
        from subprocess import _args_from_interpreter_flags

        multiprocessing.process.ORIGINAL_DIR = None

        def _divert_multiprocessing_helper():
            try:
                command_switch_idx = sys.argv.index("-c")
            except ValueError:
                return
            if set(sys.argv[1:command_switch_idx]) != set(_args_from_interpreter_flags()):
                return
            if len(sys.argv) <= command_switch_idx + 1:
                return
            command = sys.argv[command_switch_idx + 1]
            COMMAND_PREFIXES = (
                "from multiprocessing.resource_tracker import main",
                "from multiprocessing.forkserver import main",
                "import sys; from multiprocessing.forkserver import main",
            )
            if not command.startswith(COMMAND_PREFIXES):
                return
            exec(command)
            sys.exit()

        def _freeze_support():
            _divert_multiprocessing_helper()
            if multiprocessing.spawn.is_forking(sys.argv):
                kwds = {}
                for arg in sys.argv[2:]:
                    name, value = arg.split("=")
                    if value == "None":
                        kwds[name] = None
                    else:
                        kwds[name] = int(value)
                multiprocessing.spawn.spawn_main(**kwds)
                sys.exit()

        multiprocessing.freeze_support = multiprocessing.spawn.freeze_support = _freeze_support

    patches = {"inspect": patch_inspect, "pkgutil": patch_pkgutil, "multiprocessing": patch_multiprocessing}
    for name in [name for name in patches if name in sys.modules]:  # already imported: patch now
        patches.pop(name)(sys.modules[name])

    class _AfterImport:
        """Finds nothing itself: when a module in ``patches`` is being imported, wraps the real
        loader so that the module's patch runs as soon as the module has run."""

        def find_spec(self, fullname, path, target=None):
            patch = patches.pop(fullname, None)
            if patch is None:
                return None
            if not patches:
                sys.meta_path.remove(self)
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None) if finder is not self else None
                spec = find(fullname, path, target) if find is not None else None
                if spec is not None and spec.loader is not None:
                    break
            else:
                return None
            real_exec = spec.loader.exec_module

            def exec_module(module):
                real_exec(module)
                patch(module)

            spec.loader.exec_module = exec_module
            return spec

    if patches:
        sys.meta_path.insert(0, _AfterImport())


_pyi_rthook()
del _pyi_rthook
