"""The route preview probes the Ollama server the chat path will call: ``ollama_base_url``
spells a host exactly as the Ollama SDK's own parser does (a setting of ``http://host``
used to be probed on 11434 while the SDK called port 80)."""

from __future__ import annotations

import pytest

from sparklio_desktop.core.routing.live import ollama_base_url

HOSTS = [
    "127.0.0.1",
    "1.2.3.4",
    "1.2.3.4:56789",
    "http://1.2.3.4",
    "https://1.2.3.4",
    "https://1.2.3.4:56789",
    "example.com",
    "example.com:56789",
    "http://example.com",
    "https://example.com",
    "https://example.com:56789",
    "example.com/",
    "example.com:56789/",
    "example.com/path",
    "example.com:56789/path",
    "https://example.com:56789/path",
    "example.com:56789/path/",
    "[0001:002:003:0004::1]",
    "[0001:002:003:0004::1]:56789",
    "http://[0001:002:003:0004::1]",
    "https://[0001:002:003:0004::1]:56789",
    "HTTP://Example.com:11434",
    "localhost:11434",
]


@pytest.mark.parametrize("host", HOSTS)
def test_the_probe_and_the_sdk_agree_on_every_spelling(host):
    from ollama._client import _parse_host

    assert ollama_base_url(host).lower() == _parse_host(host).lower()


def test_the_default_and_the_environment(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert ollama_base_url() == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box")
    assert ollama_base_url() == "http://gpu-box:80"
    assert ollama_base_url("gpu-box:not-a-port") == "http://gpu-box:11434"  # no traceback
