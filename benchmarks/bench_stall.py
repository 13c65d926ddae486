"""How long a silent provider holds a request, against the loopback fakes of all four wire formats.

The policy's default limits scaled by ``--scale`` (default 0.1: idle 2 s, first token 3 s
for the standard class) so a run takes about a minute. For each wire format:

- stall: the stream sends a few chunks, then nothing (the socket stays open). Measured: from
  the last text chunk to the moment the next model starts. Target: <= idle limit + 1 s.
- never answers: no status line at all. Measured: from the faulted model's start to the
  next model's start. Target: <= 2 x the first-token limit.

Run: python benchmarks/bench_stall.py [--scale 0.1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-")

from sparklio_desktop.core.dispatch import AttemptStarted, TextChunk  # noqa: E402
from tests.core.test_dispatch_stalls import WIRES, StallHarness, running_fakes  # noqa: E402
from tests.fakes.loopback import Fault  # noqa: E402

DEFAULT_IDLE_S, DEFAULT_FIRST_STANDARD_S = 20.0, 30.0


def measure(wire, fault: Fault, idle_s: float, first_s: float, servers) -> tuple[float, str]:
    """Seconds from the reference moment to the next model's start; and the attempt outcomes."""
    marks: dict[str, float] = {}

    def on_event(event) -> None:
        now = time.perf_counter()
        if isinstance(event, AttemptStarted):
            marks.setdefault("first_start" if "first_start" not in marks else "next_start", now)
        elif isinstance(event, TextChunk) and "next_start" not in marks:
            marks["last_chunk"] = now

    servers[wire.name].script(fault)
    with tempfile.TemporaryDirectory() as tmp:
        h = StallHarness(Path(tmp), wire, idle_s=idle_s, first_s=first_s)
        try:
            result = h.run(on_event)
        finally:
            h.close()
    outcomes = "/".join(a.outcome for a in result.attempts)
    start = marks["last_chunk"] if fault.stall_after is not None else marks["first_start"]
    return marks["next_start"] - start, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="multiply the default limits by this")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    idle_s, first_s = DEFAULT_IDLE_S * args.scale, DEFAULT_FIRST_STANDARD_S * args.scale
    print(f"limits: idle {idle_s:g} s, first token {first_s:g} s (defaults x {args.scale:g})")
    print(f"{'wire':<10} {'fault':<14} {'worst s':>8} {'target s':>9}  outcomes        verdict")
    failed = False
    with running_fakes(os.environ.__setitem__) as servers:
        for wire in WIRES:
            for label, fault, target in (
                ("stall", Fault(stall_after=wire.lead_chunks + 3, path_contains=wire.path), idle_s + 1.0),
                ("never answers", Fault(no_answer=True, path_contains=wire.path), 2 * first_s),
            ):
                runs = [measure(wire, fault, idle_s, first_s, servers) for _ in range(args.repeat)]
                worst = max(seconds for seconds, _ in runs)
                ok = worst <= target and all(o == "stalled/ok" for _, o in runs)
                failed |= not ok
                print(
                    f"{wire.name:<10} {label:<14} {worst:>8.2f} {target:>9.2f}  {runs[0][1]:<15} "
                    f"{'ok' if ok else 'MISSED'}"
                )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
