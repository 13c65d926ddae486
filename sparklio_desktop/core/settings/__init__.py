"""The user's settings and secrets: where data lives, ``settings.json``, API keys in the keyring.

``paths`` says where files live; ``config`` reads, validates and edits ``settings.json``;
``secrets`` keeps API keys in the OS keyring (environment variables as a fallback); ``key_index``
remembers which providers have a key, names only, so routing need not ask the keyring.
"""
