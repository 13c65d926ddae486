"""A seeded mutator over safetensors files: what the probe does with thousands of broken headers.

Run as a script (``python -m tests.local.fuzz_headers --seed 1 --cases 2000``) so a test
can run it in a subprocess with a deadline: a hang fails the test instead of the suite.
It prints one JSON object: how many files were probed, how many probed fine or were
refused with :class:`CheckpointUnreadable`, every other exception with its traceback
("tracebacks"), and every file the probe accepted that the safetensors library itself
refuses to open ("oracle_mismatches": the probe must never vouch for an unloadable file).

Mutations are of two kinds: on the header's JSON (replace any value, anywhere, by a
hostile one; drop or duplicate a key) and on the raw bytes (flip, insert, delete, cut,
rewrite the length prefix), so both the parser and the checks behind it are exercised.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from tests.local.headers import raw_file, valid_header

_HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**63,
    2**64 + 1,
    -(2**70),
    1.5,
    float("inf"),
    "",
    "F16",
    "F128",
    "BOOL",
    "\x1b[31m",
    [],
    {},
    [1],
    [1, 2, 3],
    [-1, 2],
    ["1"],
    [[1]],
    {"a": "b"},
    {"dtype": "F16"},
    [0] * 9,
    [2**40, 2**40],
    "x" * 300,
]


_DEEP = "sparklio-deep-nesting:"
_DEEP_TOKEN = re.compile(r'"sparklio-deep-nesting:(\d+)"')


def _deepen(text: str) -> str:
    return _DEEP_TOKEN.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)


def _seeds() -> list[tuple[dict[str, Any], int]]:
    sd1, size = valid_header()
    with_meta = dict(sd1, __metadata__={"format": "pt", "ss_steps": "20"})
    scalars = {
        "a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": [4, 20]},
        "c": {"dtype": "U8", "shape": [0, 3], "data_offsets": [20, 20]},
    }
    return [(sd1, size), (with_meta, size), (scalars, 20)]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _nodes(child, (*path, i))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return root


def _hostile(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.08:  # nesting deeper than Python objects go: spliced into the text after dumping
        return f"{_DEEP}{rng.choice((10, 900, 5000, 100_000))}"
    if roll < 0.16:
        return rng.randint(-(2**70), 2**70)
    return copy.deepcopy(rng.choice(_HOSTILE))


def _json_mutant(rng: random.Random, header: dict[str, Any], size: int) -> bytes:
    header = copy.deepcopy(header)
    for _ in range(rng.choice((1, 1, 2, 3))):
        path = rng.choice(_nodes(header))
        kind = rng.random()
        if kind < 0.7 or not path:
            header = _set(header, path, _hostile(rng))
        elif kind < 0.85:
            parent = header
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, list):
                parent.pop(path[-1])
        elif isinstance(header, dict):  # a tensor's offsets shifted: ranges overlap, leave gaps or the file
            name = rng.choice([k for k in header if k != "__metadata__"] or ["x"])
            entry = header.get(name)
            if isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list):
                shift = rng.choice((-3, -1, 1, 2, 10**6, 2**62))
                entry["data_offsets"] = [o + shift if isinstance(o, int) else o for o in entry["data_offsets"]]
    if not isinstance(header, (dict, list)) or rng.random() < 0.1:
        text = json.dumps(header, allow_nan=True)
    else:
        text = json.dumps(header)
        if isinstance(header, dict) and header and rng.random() < 0.15:  # a key written twice
            key = rng.choice(list(header))
            text = text[:-1] + f", {json.dumps(key)}: {json.dumps(header[key])}}}"
    data = size + rng.choice((0, 0, 0, -1, 1, -size, 64))
    return raw_file(_deepen(text).encode(), max(0, data))


def _byte_mutant(rng: random.Random, header: dict[str, Any], size: int) -> bytes:
    blob = bytearray(raw_file(header, size))
    head_end = 8 + struct.unpack("<Q", bytes(blob[:8]))[0]
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        kind = rng.random()
        where = rng.randrange(0, max(1, min(len(blob), head_end + 16)))
        if kind < 0.35:
            blob[where] = rng.randrange(256)
        elif kind < 0.5:
            blob[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind < 0.65:
            del blob[where : where + rng.randint(1, 16)]
        elif kind < 0.75:
            del blob[rng.randrange(0, len(blob) + 1) :]
        elif kind < 0.9:
            length = rng.choice((0, 1, head_end - 9, head_end - 7, 2**32, 2**63, 2**64 - 1, rng.randrange(2**64)))
            blob[:8] = struct.pack("<Q", max(0, length))
        else:
            blob += bytes(rng.randint(1, 64))
    return bytes(blob)


def run(seed: int, cases: int, folder: Path) -> dict[str, Any]:
    from sparklio_desktop.core.local import CheckpointUnreadable, probe

    try:
        from safetensors import safe_open
    except ImportError:  # the oracle is optional: the probe's own guarantees are still checked
        safe_open = None
    rng = random.Random(seed)
    seeds = _seeds()
    counts = {"cases": 0, "probed": 0, "refused": 0}
    tracebacks: list[str] = []
    mismatches: list[str] = []
    slowest = 0.0
    for i in range(cases):
        header, size = rng.choice(seeds)
        mutate = _json_mutant if rng.random() < 0.6 else _byte_mutant
        blob = mutate(rng, header, size)
        path = folder / f"case{i % 50}.safetensors"
        path.write_bytes(blob)
        started = time.perf_counter()
        try:
            probe(path)
        except CheckpointUnreadable as err:
            counts["refused"] += 1
            message = str(err)
            if "\n" in message or any(ord(c) < 32 for c in message):
                tracebacks.append(f"case {i}: error is not one printable line: {message!r}")
        except Exception:  # noqa: BLE001 - what the fuzz is looking for
            tracebacks.append(f"case {i} ({blob[:120]!r}...):\n{traceback.format_exc()}")
        else:
            counts["probed"] += 1
            if safe_open is not None:
                try:
                    with safe_open(str(path), "np") as f:
                        list(f.keys())
                except Exception as err:  # noqa: BLE001 - any refusal by the real loader
                    mismatches.append(f"case {i}: probe accepted, safetensors refused: {err} ({blob[:200]!r})")
        slowest = max(slowest, time.perf_counter() - started)
        counts["cases"] += 1
    return {**counts, "tracebacks": tracebacks, "oracle_mismatches": mismatches, "slowest_s": round(slowest, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(args.seed, args.cases, Path(tmp))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
