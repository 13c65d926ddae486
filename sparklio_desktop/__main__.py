"""``python -m sparklio_desktop`` runs the same entry point as the ``sparklio`` script."""

from sparklio_desktop.cli import entry

entry()
