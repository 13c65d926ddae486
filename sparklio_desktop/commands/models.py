"""``sparklio models ollama|sd ...``: the local model manager from a terminal.

Ollama: ``status``, ``list``, ``show NAME``, ``ps``, ``pull NAME``, ``rm NAME``, ``unload NAME``, and
``hosts`` (every configured Ollama host, this machine's and the LAN's, with its models).
Stable Diffusion: ``list``, ``loras``, ``probe PATH``, ``import PATH``, ``rm NAME``. ``--json`` on each
prints one JSON document on standard output for scripts; progress and prompts go to
standard error, so they never mix with it.

Deleting asks on a terminal; without one it needs ``--yes``, because a script that
forgot the flag should fail rather than hang on a prompt nobody sees.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from sparklio_desktop.commands._args import MAX_TOKENS, float_in, int_in
from sparklio_desktop.commands._output import print_json, safe_text, table
from sparklio_desktop.core.errors import SparklioError

DEFAULT_CONTEXT = 4096  # Ollama's own default num_ctx when OLLAMA_CONTEXT_LENGTH is unset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cls = type(parser)
    groups = parser.add_subparsers(dest="models_group", required=True, parser_class=cls)
    ollama = groups.add_parser("ollama", help="models of the local Ollama server").add_subparsers(
        dest="models_command", required=True, parser_class=cls)  # fmt: skip
    sd = groups.add_parser("sd", help="Stable Diffusion checkpoints").add_subparsers(
        dest="models_command", required=True, parser_class=cls)  # fmt: skip

    def command(sub: Any, name: str, help_text: str, *positional: str, host: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        for arg in positional:
            p.add_argument(arg)
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        if host:
            p.add_argument("--host", help="Ollama host (default: setting providers.ollama.host, OLLAMA_HOST)")
        return p

    command(ollama, "status", "is Ollama running, and which version", host=True)
    command(ollama, "hosts", "every Ollama host (local first, then providers.ollama.hosts) and its models")
    command(ollama, "list", "installed models: family, size, quantisation", host=True)
    command(ollama, "ps", "loaded models and their VRAM use", host=True)
    command(ollama, "pull", "download a model (Ctrl+C cancels; a later pull resumes)", "name", host=True)
    command(ollama, "unload", "free a loaded model's memory now", "name", host=True)
    show = command(ollama, "show", "a model's details and whether it fits the GPU", "name", host=True)
    show.add_argument(
        "--context",
        type=int_in(1, MAX_TOKENS),
        default=DEFAULT_CONTEXT,
        metavar="TOKENS",
        help=f"context for the fit check (default {DEFAULT_CONTEXT})",
    )
    show.add_argument(
        "--gpu-gb",
        type=float_in(0, 4096, low_open=True),
        metavar="GB",
        help="GPU memory (default: NVML, else gpu.vram_gb)",
    )
    show.add_argument("--kv-cache-type", default="f16", choices=("f16", "q8_0", "q4_0"))
    add = command(ollama, "add", "make a pulled model routable: add it to your catalog", "name", host=True)
    add.add_argument(
        "--quality", type=float, default=None, help="quality score 0-10 (default: the entry's own, else 7)"
    )
    add.add_argument(
        "--speed",
        default=None,
        metavar="LOW,HIGH",
        help="seconds for 500 output tokens (default: the entry's own, else 2,5)",
    )
    add.add_argument("--display-name", metavar="TEXT")
    add.add_argument("--complex-capable", action="store_true", default=None)
    rm = command(ollama, "rm", "delete an installed model", "name", host=True)
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    command(sd, "list", "checkpoints in the weights folders, probed from their headers")
    command(sd, "loras", "LoRAs (weights/lora, A1111 Lora, ComfyUI loras): family, rank, trigger words")
    command(sd, "probe", "what a checkpoint is, from its header only", "path").add_argument(
        "--set-type", choices=("sd1", "sd2", "sdxl_base", "sdxl_refiner", "inpaint", "auto"),
        help="override the detected type for this file (auto: back to detection)")  # fmt: skip
    imp = command(sd, "import", "copy (or link) a checkpoint into Sparklio's weights folder", "path")
    imp.add_argument("--link", action="store_true", help="link instead of copying (no extra disk)")
    imp.add_argument("--trust-pickle", action="store_true", help="allow this .ckpt/.bin/.pt file (after a warning)")
    imp.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    sd_rm = command(sd, "rm", "delete a checkpoint (a link is removed, not its target)", "name")
    sd_rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    import asyncio  # only where a coroutine runs: not for `models sd ...` or --help

    if args.models_group == "sd":
        return _run_sd(args)
    if args.models_command == "pull":
        return _pull(args)
    if args.models_command == "hosts":
        return _hosts(args)
    return asyncio.run(_run_ollama(args))


# ------------------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """Dataclasses, paths and enums → JSON-ready values (``_output`` does dates and enums)."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.repr}
        for prop in ("processor", "gpu_percent", "fraction", "required_bytes", "total", "loadable"):
            if hasattr(type(value), prop):
                out[prop] = _plain(getattr(value, prop))
        return out
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def human_bytes(n: float | None) -> str:
    """Decimal units, as Ollama prints sizes (4.9 GB), so the figures match ``ollama list``."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    s = int(seconds + 0.5)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _confirm(question: str, assume_yes: bool) -> bool:
    """Ask on a terminal; refuse (with how to proceed) when there is none."""

    if assume_yes:
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        raise SparklioError(f"{question} needs confirmation: run it on a terminal, or add --yes")
    sys.stderr.write(f"{safe_text(question)} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# -------------------------------------------------------------------------- ollama


async def _run_ollama(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.local.ollama_admin import OllamaAdmin  # httpx

    async with OllamaAdmin(args.host) as admin:
        cmd = args.models_command
        if cmd == "status":
            status = await admin.status()
            print_json(_plain(status)) if args.json else print(status.message)
            return 0 if status.reachable else 1
        if cmd == "add":
            return await _add(admin, args)
        if cmd == "list":
            models = await admin.list()
            if args.json:
                print_json(_plain(models))
            else:
                rows: list[tuple[Any, ...]] = [
                    (m.name, m.family, m.parameter_size, m.quantization, human_bytes(m.size_bytes),
                     m.modified_at.strftime("%Y-%m-%d %H:%M") if m.modified_at else "-")
                    for m in models
                ]  # fmt: skip
                print(table(rows, ("name", "family", "parameters", "quantization", "size", "modified")))
            return 0
        if cmd == "ps":
            running = await admin.ps()
            if args.json:
                print_json(_plain(running))
            else:
                rows = [(m.name, human_bytes(m.size_bytes), human_bytes(m.size_vram_bytes), m.processor,
                         m.context_length or "-",
                         m.expires_at.astimezone().strftime("%H:%M:%S") if m.expires_at else "-")  # local time
                        for m in running]  # fmt: skip
                print(table(rows, ("name", "size", "vram", "processor", "context", "until")))
            return 0
        if cmd == "show":
            return await _show(admin, args)
        if cmd == "unload":
            await admin.unload(args.name)
            print_json({"model": args.name, "unloaded": True}) if args.json else print(
                f"unloaded {safe_text(args.name)}"
            )
            return 0
        if cmd == "rm":
            if not _confirm(f"Delete the Ollama model '{args.name}'?", args.yes):
                print("kept", file=sys.stderr)
                return 1
            await admin.delete(args.name, confirm=True)
            print_json({"model": args.name, "deleted": True}) if args.json else print(f"deleted {safe_text(args.name)}")
            return 0
    raise AssertionError(f"unhandled command {cmd}")  # pragma: no cover - argparse limits the choices


def _hosts(args: argparse.Namespace) -> int:
    """``models ollama hosts``: each host's own /api/tags and /api/ps, all asked at once."""
    from sparklio_desktop.core.routing.live import ollama_hosts_of
    from sparklio_desktop.core.routing.ollama_hosts import probe_ollama_hosts
    from sparklio_desktop.core.settings.config import load_settings_lenient  # pydantic

    probes = probe_ollama_hosts(ollama_hosts_of(load_settings_lenient()[0]), timeout_s=2.0, with_ps=True)
    if args.json:
        print_json([
            {**p.host.to_dict(), "reachable": p.reachable, "reason": p.reason or None,
             "models": sorted(p.tags or ()), "loaded": sorted(p.loaded)}
            for p in probes
        ])  # fmt: skip
    else:
        rows = [
            (p.host.label, p.host.url, "ok" if p.reachable else f"down: {p.reason}",
             ", ".join(n + (" (loaded)" if n in p.loaded else "") for n in sorted(p.tags or ())) or "-")
            for p in probes
        ]  # fmt: skip
        print(table(rows, ("host", "url", "state", "models")))
    down = [p.host.label for p in probes if not p.reachable]
    if down:  # exit 1 says why in one line, apart from the table
        print(f"{len(down)} of {len(probes)} Ollama hosts not answering: {', '.join(down)}", file=sys.stderr)
    return 1 if down else 0


async def _show(admin: Any, args: argparse.Namespace) -> int:
    from sparklio_desktop.core.local.ollama_admin import OllamaError  # httpx (loaded by _run_ollama)

    details = await admin.show(args.name)
    try:
        check = await admin.fit(details, args.context, args.gpu_gb, kv_cache_type=args.kv_cache_type)
    except OllamaError:
        check = None
    if args.json:
        print_json({**_plain(details), "fit": _plain(check) if check else None, "fit_context": args.context})
        return 0
    a = details.architecture
    lines = [
        f"{details.name}  {details.family or '?'} {details.parameter_size or '?'} {details.quantization or ''}",
        f"  size on disk   {human_bytes(details.size_bytes)}",
        f"  context        {details.context_length or '?'} tokens",
        f"  capabilities   {', '.join(details.capabilities) or '-'}",
    ]
    if a is not None:
        lines.append(f"  architecture   {a.name}: {a.block_count} layers, {a.head_count_kv} KV heads × {a.head_dim}")
    lines += [f"  parameter      {k} {' | '.join(v)}" for k, v in details.parameters.items()]
    if check is not None:
        lines.append(f"  fit at {args.context} tokens: {check.verdict.value} "
                     f"(weights {human_bytes(check.weights_bytes)} + KV cache {human_bytes(check.kv_bytes)} "
                     f"vs {human_bytes(check.available_bytes)} usable; "
                     f"{check.gpu_layers}/{check.total_layers} layers on the GPU)")  # fmt: skip
    print("\n".join(safe_text(line) for line in lines))
    return 0


def _progress_line(p: Any) -> str:
    if not p.total_bytes or p.status in ("pulling manifest", "verifying sha256 digest", "writing manifest", "success"):
        return f"{p.model}: {p.status}"
    pct = 100 * (p.fraction or 0)
    speed = f"{human_bytes(p.speed_bps)}/s" if p.speed_bps else "--/s"
    return (f"{p.model}: {pct:5.1f}%  {human_bytes(p.completed_bytes)} / {human_bytes(p.total_bytes)}  "
            f"{speed}  ETA {_duration(p.eta_s)}")  # fmt: skip


def _pull(args: argparse.Namespace) -> int:
    """Ctrl+C: ``asyncio.run`` cancels the task, the pull generator's ``finally`` closes
    the stream (Ollama stops), and KeyboardInterrupt arrives here afterwards."""
    import asyncio

    started = time.monotonic()
    final: list[Any] = []
    tty = sys.stderr.isatty()

    async def pull() -> None:
        from sparklio_desktop.core.local.ollama_admin import OllamaAdmin  # httpx

        width, drawn_at = 0, 0.0
        phase: str | None = None
        async with OllamaAdmin(args.host) as admin:
            async for snapshot in admin.pull(args.name):
                final[:] = [snapshot]
                line = safe_text(_progress_line(snapshot))  # the status text comes from the server
                downloading = snapshot.status.startswith("pulling ") and snapshot.status != "pulling manifest"
                now = "downloading" if downloading else snapshot.status
                same, phase = now == phase, now
                if tty:  # one line redrawn in place, at most ten times a second within a phase
                    if same and time.monotonic() - drawn_at < 0.1:
                        continue
                    sys.stderr.write("\r" + line.ljust(width))
                    sys.stderr.flush()
                    width, drawn_at = max(width, len(line)), time.monotonic()
                elif not args.json and not same:  # no terminal: one line per phase, not per chunk
                    print(line, file=sys.stderr)
        if tty:
            sys.stderr.write("\n")

    try:
        asyncio.run(pull())
    except KeyboardInterrupt:
        last = final[0] if final else None
        done = f" at {human_bytes(last.completed_bytes)} of {human_bytes(last.total_bytes)}" if last else ""
        print(f"\npull of {safe_text(args.name)} cancelled{done}; pulling again resumes from there", file=sys.stderr)
        if args.json:
            print_json({"model": args.name, **({} if last is None else _plain(last)), "status": "cancelled"})
        return 130
    last = final[0]
    if args.json:
        print_json({**_plain(last), "elapsed_s": round(time.monotonic() - started, 3)})
    else:
        took = _duration(time.monotonic() - started)
        print(f"pulled {safe_text(args.name)} ({human_bytes(last.total_bytes)} in {took})")
    return 0


# ---------------------------------------------------------------- stable diffusion


def _sd_folders() -> list[Path]:
    from sparklio_desktop.core.settings.config import load_settings_lenient  # pydantic

    return list(load_settings_lenient()[0].local.sd_weight_dirs)


def _list_loras(args: argparse.Namespace) -> int:
    """``models sd loras``: the names ``run --lora NAME`` takes, and what each was made for."""
    from sparklio_desktop.core.local.sd.loras import find_loras, lora_folders

    found = find_loras(lora_folders(_sd_folders()))
    if args.json:
        print_json([{**_plain(f), "usable": f.usable} for f in found])
        return 0
    if not found:
        print("no LoRAs found (put .safetensors LoRAs in <data dir>/weights/lora)")
        return 0
    rows = [(f.name, f.base.value if f.base else "?", f.rank or "", ", ".join(f.triggers), human_bytes(f.size_bytes),
             f.problem or "") for f in found]  # fmt: skip
    print(table(rows, ("name", "family", "rank", "trigger words", "size", "problem")))
    return 0


def _checkpoint_json(c: Any, probed: Any | None, error: str | None) -> dict[str, Any]:
    out = {**_plain(c), "loadable": c.loadable}
    if probed is not None:
        out.update(model_type=probed.model_type, precision=probed.precision, est_vram_bytes=probed.est_vram_bytes,
                   overridden=probed.overridden)  # fmt: skip
    out["probe_error"] = error
    out["usable"] = error is None
    out["problem"] = error
    return out


def _run_sd(args: argparse.Namespace) -> int:
    # the local-model package (safetensors readers, probes, the VRAM scheduler): only for `models sd`
    from sparklio_desktop.core.local import (
        PICKLE_WARNING,
        CheckpointStore,
        ModelType,
        PickleRefused,
        delete_checkpoint,
        import_checkpoint,
        list_checkpoints,
        probe,
    )
    from sparklio_desktop.core.local.sd.weights import describe, probe_checkpoints, scan_weights

    store = CheckpointStore()
    cmd = args.models_command
    if cmd == "loras":
        return _list_loras(args)
    if cmd == "probe":
        path = Path(args.path).expanduser()
        if not path.exists():
            raise SparklioError(f"{path}: no such file or folder")
        if args.set_type:
            store.set_type_override(path, None if args.set_type == "auto" else ModelType(args.set_type))
        result = probe(path, store)
        if args.json:
            print_json({**_plain(result), "param_count": result.param_count})
        else:
            print(f"{safe_text(path.name)}: {result.model_type.value}" + (" (set by you)" if result.overridden else ""))
            print(f"  precision {result.precision}, {result.param_count / 1e6:,.0f}M parameters, "
                  f"{human_bytes(result.size_bytes)} on disk, ~{result.est_vram_bytes / 2**30:.1f} GiB VRAM "
                  f"at {result.default_resolution}px")  # fmt: skip
            for reason in result.reasons:
                print(f"  - {safe_text(reason)}")
        return 0
    if cmd == "list":
        rows, docs = [], []
        scan = scan_weights(_sd_folders(), store=store)
        for row in probe_checkpoints(store=store, listed=scan.checkpoints):
            c, probed, problem = row.checkpoint, row.probe, row.problem
            docs.append(_checkpoint_json(c, probed, problem))
            note = f"unusable: {problem}" if problem else "" if c.loadable else "pickle: not trusted"
            rows.append((c.name, probed.model_type.value if probed else "unusable", c.format,
                         probed.precision if probed else "-", human_bytes(c.size_bytes),
                         f"~{probed.est_vram_bytes / 2**30:.1f} GiB" if probed else "-",
                         note, str(c.path)))  # fmt: skip
        for skipped in scan.skipped:
            print(f"skipped {skipped.path}: {skipped.why}", file=sys.stderr)
        if args.json:
            print_json(docs)
        else:
            print(table(rows, ("name", "type", "format", "precision", "size", "vram", "note", "path")))
        return 0
    if cmd == "import":
        source = Path(args.path).expanduser()
        if args.trust_pickle and describe(source, store=store).pickle:
            print(PICKLE_WARNING, file=sys.stderr)
            if not _confirm(f"Trust {source.name}?", args.yes):
                return 1
            store.trust_pickle(source, confirm=True)
        try:
            imported = import_checkpoint(source, mode="link" if args.link else "copy", store=store)
        except PickleRefused as err:
            raise SparklioError(f"{err}; to trust it, read the warning that --trust-pickle shows") from None
        if args.json:
            print_json(_checkpoint_json(imported, None, None))
        else:
            print(f"{'linked' if args.link else 'copied'} {safe_text(source.name)} to {safe_text(imported.path)}")
        return 0
    # rm
    matches = [c for c in list_checkpoints(_sd_folders(), store=store)
               if args.name in (c.name, str(c.path), c.path.name)]  # fmt: skip
    if not matches:
        raise SparklioError(f"no checkpoint named '{args.name}'; see `sparklio models sd list`")
    if len(matches) > 1:
        raise SparklioError(f"'{args.name}' names {len(matches)} checkpoints; give the path: "
                            + ", ".join(str(c.path) for c in matches))  # fmt: skip
    target = matches[0]
    what = f"the link {target.path}" if target.is_link else f"{target.path} ({human_bytes(target.size_bytes)})"
    if not _confirm(f"Delete {what}?", args.yes):
        print("kept", file=sys.stderr)
        return 1
    delete_checkpoint(target, confirm=True, store=store)
    print_json({"deleted": str(target.path)}) if args.json else print(f"deleted {target.path}")
    return 0


__all__ = ["add_arguments", "human_bytes", "run"]


async def _add(admin: Any, args: argparse.Namespace) -> int:
    """Make a pulled model routable; an entry that already runs as the tag (the shipped
    Qwen 2.5 served by ``qwen2.5:latest``) is updated in place, never duplicated
    (core.policy.user_catalog.add_ollama_model, which the Models panel uses too)."""
    from sparklio_desktop.core.policy import user_catalog  # YAML and the catalog's models (pydantic)

    speed = None
    if args.speed is not None:
        try:
            low, high = sorted(float(x) for x in args.speed.split(","))
        except ValueError:
            raise SparklioError(f"--speed {args.speed}: expected LOW,HIGH seconds, e.g. 2,5") from None
        speed = (low, high)
    if args.quality is not None and not 0 <= args.quality <= 10:
        raise SparklioError("--quality must be between 0 and 10")
    details = await admin.show(args.name)
    installed = {m.name: m.digest or "" for m in await admin.list()}
    weights = details.weights_bytes or 0
    added = user_catalog.add_ollama_model(
        args.name,
        installed,
        quality=args.quality,
        speed=speed,
        context_tokens=details.context_length,
        vram_gb=weights / 1e9 * 1.15 + 0.5,
        name=args.display_name,
        complex_capable=args.complex_capable,
    )
    model = added.model
    if args.json:
        print_json(
            {
                "id": model.id,
                "name": model.name,
                "api_name": model.api_name,
                "quality": model.quality,
                "context_tokens": model.context_tokens,
                "vram_gb": model.vram_gb,
                "updated": added.updated,
                "removed": list(added.removed),
            }
        )
    else:
        low, high = model.speed.seconds if model.speed else (0, 0)
        verb = "updated" if added.updated else "added"
        print(
            f"{verb} {safe_text(model.id)} in your catalog (runs as {safe_text(model.api_name)}): "
            f"quality {model.quality:g}, {low:g}-{high:g} s per 500 tokens"
        )
        for removed in added.removed:
            print(f"removed {safe_text(removed)}: it ran as the same tag")
    return 0
