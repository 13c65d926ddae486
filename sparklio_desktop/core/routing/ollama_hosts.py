"""Several Ollama hosts: this machine's and the GPU boxes on the LAN beside it.

A studio puts a GPU box next to each workstation; any of them may hold the model a
request wants. The hosts are the local one (the setting ``providers.ollama.host``, else
``OLLAMA_HOST``, else the default, exactly as a single-host install has it) followed by
the setting ``providers.ollama.hosts`` (else ``SPARKLIO_OLLAMA_HOSTS``, comma-separated).

Each host speaks for itself: its own ``/api/tags`` says what is installed there and its
own ``/api/ps`` what is loaded. The hosts are asked at once, each with a short timeout,
so a box that is switched off costs one timeout, not one per host, and never hangs the
route preview. Which host serves a model is decided here (:func:`choose_host`): the
local host when it has the model, else the first LAN host that has it loaded, else the
first LAN host that has it installed.

Only the standard library: the route preview imports this for nothing.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sparklio_desktop.core.provider_table import OLLAMA_DEFAULT_PORT, ROWS, base_url_from_env

__all__ = [
    "HOSTS_ENV_VAR",
    "HostProbe",
    "OllamaHost",
    "choose_host",
    "configured_ollama_hosts",
    "fetch_loaded",
    "fetch_tags",
    "host_problem",
    "ollama_base_url",
    "probe_ollama_hosts",
]

HOSTS_ENV_VAR = "SPARKLIO_OLLAMA_HOSTS"
PROBE_TIMEOUT_S = 0.3


def ollama_base_url(host: str | None = None) -> str:
    """``host``, else ``OLLAMA_HOST``, else the default host (the Ollama row's, core/provider_table.py),
    spelled ``scheme://host:port[/path]`` the way the Ollama SDK reads it, so the probe asks the
    server the chat path calls: no scheme means port 11434, ``http://`` without a port 80 and
    ``https://`` 443 (the SDK's ``_parse_host``; tests/core/test_ollama_host.py holds the two
    side by side). A port that is not a number falls back to the scheme's default."""
    host = (host or base_url_from_env("ollama") or ROWS["ollama"].default_host or "").strip()
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest, default_port = "http", host, OLLAMA_DEFAULT_PORT
    else:
        scheme = scheme.lower()
        default_port = 443 if scheme == "https" else 80
    split = urlsplit(f"{scheme}://{rest}")
    try:
        port = split.port or default_port
    except ValueError:
        port = default_port
    name = split.hostname or "127.0.0.1"
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    return f"{scheme}://{name}:{port}{split.path.rstrip('/')}"


def host_problem(value: str) -> str | None:
    """Why ``value`` is not an Ollama host (``host``, ``host:port``, ``http(s)://host[:port][/path]``);
    ``None`` when it is one. Stricter than ``OLLAMA_HOST``'s parser: a port that is not a
    number is an error here rather than a silent fall-back to 11434."""
    if not value or re.search(r"\s", value):
        return f"'{value}' is not a host (host:port or http://host:port)"
    scheme, sep, rest = value.partition("://")
    if sep and scheme.lower() not in ("http", "https"):
        return f"'{value}' is not an http:// or https:// URL"
    split = urlsplit(f"http://{rest if sep else value}")
    try:
        port = split.port
    except ValueError:
        return f"'{value}' has a port that is not a number from 1 to 65535"
    if not split.hostname or port == 0 or split.query or split.fragment:
        return f"'{value}' is not a host (host:port or http://host:port)"
    return None


@dataclass(frozen=True)
class OllamaHost:
    """One Ollama server: ``url`` as the SDK spells it, ``label`` as people read it."""

    url: str
    label: str
    local: bool = False
    problem: str | None = None  # an entry of SPARKLIO_OLLAMA_HOSTS that is not a host

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "label": self.label, "local": self.local}


def _label(url: str) -> str:
    split = urlsplit(url)
    return f"{split.hostname}:{split.port}{split.path}" if split.port else url


def configured_ollama_hosts(host: str | None = None, lan: Sequence[str] = ()) -> tuple[OllamaHost, ...]:
    """The local host (``host``: the setting ``providers.ollama.host``) first, then each LAN host
    (``lan``: the setting ``providers.ollama.hosts``, else ``SPARKLIO_OLLAMA_HOSTS``) once: an
    entry naming the local host again, or one listed twice, is dropped. With no LAN host,
    one host: the single-host install."""
    local_url = ollama_base_url(host)
    hosts = [OllamaHost(local_url, "local", local=True)]
    seen = {local_url.lower()}
    entries = list(lan)
    if not entries:
        entries = [e.strip() for e in os.environ.get(HOSTS_ENV_VAR, "").split(",") if e.strip()]
    for entry in entries:
        problem = host_problem(entry)
        if problem is not None:  # only the environment can hold one: the setting is validated
            hosts.append(OllamaHost(entry, entry, problem=f"{HOSTS_ENV_VAR}: {problem}"))
            continue
        url = ollama_base_url(entry)
        if url.lower() not in seen:
            seen.add(url.lower())
            hosts.append(OllamaHost(url, _label(url)))
    return tuple(hosts)


@dataclass(frozen=True)
class HostProbe:
    """What one host said: its installed models (name -> digest) and loaded ones.

    ``tags`` is ``None`` when the host did not answer; ``reason`` says why in words."""

    host: OllamaHost
    tags: Mapping[str, str] | None
    loaded: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""

    @property
    def reachable(self) -> bool:
        return self.tags is not None


def _get_json(url: str, timeout_s: float) -> tuple[Any, str]:
    """The JSON body at ``url``, or ``None`` and why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - a configured Ollama
            return json.load(response), ""
    except TimeoutError:
        return None, f"no answer within {timeout_s:g} s"
    except urllib.error.HTTPError as exc:
        return None, f"answered HTTP {exc.code}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return None, f"no answer within {timeout_s:g} s"
        if isinstance(reason, ConnectionRefusedError):
            return None, "refused the connection (is `ollama serve` running there?)"
        return None, f"not reachable ({reason})"
    except (OSError, ValueError) as exc:
        return None, f"not reachable ({type(exc).__name__})"


def parse_tags(payload: Any) -> dict[str, str]:
    """``/api/tags``'s body -> installed name -> digest."""
    tags: dict[str, str] = {}
    models = payload.get("models") if isinstance(payload, dict) else None
    for entry in models if isinstance(models, list) else []:
        if not isinstance(entry, dict):
            continue
        name = entry.get("model") or entry.get("name")
        if isinstance(name, str) and name:
            digest = entry.get("digest")
            tags[name] = digest if isinstance(digest, str) else ""
    return tags


def parse_ps(payload: Any) -> frozenset[str]:
    """``/api/ps``'s body -> the loaded models' names."""
    names: set[str] = set()
    models = payload.get("models") if isinstance(payload, dict) else None
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict):
            names.update(n for n in (entry.get("model"), entry.get("name")) if isinstance(n, str) and n)
    return frozenset(names)


def fetch_tags(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[dict[str, str] | None, str]:
    """One host's installed models, or ``None`` and why not."""
    payload, reason = _get_json(url + "/api/tags", timeout_s)
    if payload is None:
        return None, reason
    return parse_tags(payload), ""


def fetch_loaded(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> frozenset[str] | None:
    """One host's loaded models (``/api/ps``), or ``None`` when it cannot be asked."""
    payload, _ = _get_json(url + "/api/ps", timeout_s)
    return None if payload is None else parse_ps(payload)


def _probe_one(host: OllamaHost, timeout_s: float, with_ps: bool) -> HostProbe:
    if host.problem is not None:
        return HostProbe(host, None, reason=host.problem)
    tags, reason = fetch_tags(host.url, timeout_s)
    if tags is None:
        return HostProbe(host, None, reason=reason)
    loaded = fetch_loaded(host.url, timeout_s) if with_ps else None
    return HostProbe(host, tags, loaded or frozenset())


def probe_ollama_hosts(
    hosts: Sequence[OllamaHost], timeout_s: float = PROBE_TIMEOUT_S, *, with_ps: bool | None = None
) -> list[HostProbe]:
    """Ask every host at once (``/api/tags``, and ``/api/ps`` when there are LAN hosts to
    choose between); the answers come back in the hosts' order."""
    with_ps = len(hosts) > 1 if with_ps is None else with_ps
    if len(hosts) == 1:
        return [_probe_one(hosts[0], timeout_s, with_ps)]
    with ThreadPoolExecutor(max_workers=min(len(hosts), 8), thread_name_prefix="sparklio-ollama-probe") as pool:
        return list(pool.map(lambda h: _probe_one(h, timeout_s, with_ps), hosts))


def choose_host(probes: Sequence[HostProbe], resolve: Any, api_name: str) -> tuple[HostProbe, str] | None:
    """The host that serves ``api_name`` and the tag it runs as there: the local host when it
    has it; else the first LAN host that has it loaded; else the first that has it installed.
    ``resolve(api_name, installed)`` is :func:`core.routing.live.resolve_ollama_tag`."""
    having = [(p, tag) for p in probes if p.tags is not None and (tag := resolve(api_name, p.tags)) is not None]
    if not having:
        return None
    for probe, tag in having:
        if probe.host.local:
            return probe, tag
    for probe, tag in having:
        if tag in probe.loaded or f"{tag}:latest" in probe.loaded:
            return probe, tag
    return having[0]
