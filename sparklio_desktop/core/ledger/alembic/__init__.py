"""The ledger's Alembic script folder: ``versions/`` holds one file per revision.

There is no ``env.py`` and no ``alembic.ini``: core/ledger/schema_upgrade.py builds the
Alembic configuration in code and runs the upgrade on the store's own connection, inside
the transaction it holds (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL).
Alembic loads the revision files from this folder on disk, so the wheel carries them as
modules of this package and the PyInstaller bundle as data files (packaging/sparklio.spec).
How to add a revision: docs/operations.md, "How the ledger upgrades".
"""
