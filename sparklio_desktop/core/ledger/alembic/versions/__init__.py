"""The ledger's Alembic revisions, one file each, named ``v<revision>_<what>.py``."""
