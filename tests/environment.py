"""Which environment variables carry a provider key or host, for scrubbing them in tests.

The root conftest removes every variable matched here from the test process and again
before each test; ``tests/test_environment.py`` and ``tests/local/test_environment.py``
fail if one is visible inside a test, or inside a subprocess a test starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# The variables through which a key or a host reaches the app or a provider SDK: the ones
# core/settings/key_index.py reads (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY,
# GOOGLE_API_KEY, <PROVIDER>_API_KEY for other providers, SPARKLIO_KEY_<ENTRY> for a
# catalog entry's own key), the base URLs core/settings/config.py and the clients read
# (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, GOOGLE_GEMINI_BASE_URL, OLLAMA_HOST, OLLAMA_API_KEY,
# SPARKLIO_OLLAMA_HOSTS for the LAN Ollama hosts),
# and what the SDKs read by themselves (ANTHROPIC_AUTH_TOKEN, OPENAI_ORG_ID, Vertex AI's
# GOOGLE_CLOUD_PROJECT and GOOGLE_APPLICATION_CREDENTIALS, the Hugging Face hub's token).
PROVIDER_VARIABLE = re.compile(
    r"(?:.*_API_KEY|.*_BASE_URL|SPARKLIO_KEY_.*|OPENAI_.*|ANTHROPIC_.*|GEMINI_.*|GOOGLE_API_KEY"
    r"|GOOGLE_GENAI_.*|GOOGLE_CLOUD_.*|GOOGLE_APPLICATION_CREDENTIALS|OLLAMA_.*|SPARKLIO_OLLAMA_HOSTS|HF_TOKEN|HUGGING_FACE_HUB_TOKEN)"
)
# An unreachable Ollama by default: tests that need one start a loopback server.
UNREACHABLE_OLLAMA = "http://127.0.0.1:9"


def provider_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The provider variables set in ``environ``."""
    return sorted(name for name in environ if PROVIDER_VARIABLE.fullmatch(name))


def leaked_provider_variables(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The provider variables in ``environ`` that the scrubbing should have removed."""
    return [
        name
        for name in provider_variables(environ)
        if not (name == "OLLAMA_HOST" and environ[name] == UNREACHABLE_OLLAMA)
    ]
