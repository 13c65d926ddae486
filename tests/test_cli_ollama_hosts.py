"""``sparklio config set providers.ollama.hosts``, ``models ollama hosts``, ``doctor`` and
``route`` with a local Ollama and a LAN one (two loopback servers), as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sparklio_desktop.core.routing.ollama_hosts import ollama_base_url
from tests.fakes.ollama_server import OllamaServer

QWEN = "ollama/qwen2.5"


def sparklio(*args: str, local: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OLLAMA_HOST": local}
    return subprocess.run([sys.executable, "-m", "sparklio_desktop", *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


@pytest.fixture
def hosts() -> Iterator[tuple[OllamaServer, OllamaServer]]:
    with OllamaServer(installed=["llama3.2:latest"]) as a, OllamaServer(installed=["qwen2.5:latest"]) as b:
        yield a, b


def test_a_lan_host_set_from_the_command_line_serves_its_models(hosts):
    a, b = hosts
    lan = f"127.0.0.1:{b.port}"
    assert sparklio("config", "set", "providers.ollama.hosts", lan, local=a.base_url).returncode == 0
    bad = sparklio("config", "set", "providers.ollama.hosts", "gpu box", local=a.base_url)
    assert bad.returncode != 0 and "providers.ollama.hosts: entry 1 'gpu box' is not a host" in bad.stderr
    assert "Traceback" not in bad.stderr

    listed = sparklio("models", "ollama", "hosts", local=a.base_url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["host", "url", "state", "models"]
    assert lines[2].split()[0] == "local" and "llama3.2:latest" in lines[2]
    assert lines[3].split()[0] == lan and "qwen2.5:latest" in lines[3]
    as_json = json.loads(sparklio("models", "ollama", "hosts", "--json", local=a.base_url).stdout)
    assert [(h["label"], h["local"], h["models"]) for h in as_json] == [
        ("local", True, ["llama3.2:latest"]),
        (lan, False, ["qwen2.5:latest"]),
    ]

    routed = sparklio("route", "--task", "template_generation", "--no-explore", local=a.base_url)
    assert f"runs on the LAN Ollama host {lan}" in routed.stdout
    trace = json.loads(
        sparklio("route", "--task", "template_generation", "--no-explore", "--json", local=a.base_url).stdout
    )
    assert trace["chain"][0] == QWEN and trace["ollama_hosts"][QWEN]["url"] == ollama_base_url(b.base_url)

    doctor = json.loads(sparklio("doctor", "--json", local=a.base_url).stdout)
    ollama = [c for c in doctor["checks"] if c["name"] == "ollama"]
    assert [c["ok"] for c in ollama] == [True, True] and "1 model" in ollama[1]["detail"]


def test_a_lan_host_that_is_down_is_named_and_the_local_one_keeps_working(hosts):
    a, b = hosts
    lan = f"127.0.0.1:{b.port}"
    b.stop()
    assert sparklio("config", "set", "providers.ollama.hosts", lan, local=a.base_url).returncode == 0
    listed = sparklio("models", "ollama", "hosts", local=a.base_url)
    assert listed.returncode == 1 and "down: refused the connection" in listed.stdout
    assert listed.stderr.strip() == f"1 of 2 Ollama hosts not answering: {lan}"
    routed = json.loads(
        sparklio("route", "--task", "template_generation", "--no-explore", "--json", local=a.base_url).stdout
    )
    qwen = next(c for c in routed["candidates"] if c["id"] == QWEN)
    assert lan in qwen["exclusion_detail"]
    doctor = sparklio("doctor", local=a.base_url)
    assert doctor.returncode == 1 and f"{lan} (LAN, " in doctor.stdout and "its models are unavailable" in doctor.stdout
