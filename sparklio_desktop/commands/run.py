"""``sparklio run``: route a task, send it, print the answer, record what it cost.

Standard output carries the final answer exactly once; what happened on the way
(retries, fallbacks, a stream that broke after some text) goes to standard error. On a
terminal the answer streams as it arrives, and when an attempt breaks after some text a
notice on standard error says that the text above it is discarded and the answer starts
again. To a pipe or a file the answer is written once, when it is complete, so a script
never receives a broken prefix followed by the whole answer (docs/dispatch.md);
``--stream`` asks for the terminal behaviour on a pipe too.

``--conversation new|ID`` keeps the run in a conversation (docs/conversations.md): the
prompt is stored as a user turn and, when the run succeeds, the answer after it; a
failed run stores the user turn alone, with the error in its meta. An ID's earlier turns
are sent as history. ``--json`` always has ``conversation_id`` (null without the option).

``--template NAME --var key=value`` builds the prompt from a template (docs/templates.md):
its system prompt replaces the task's, its task and route options apply unless given on
the line, and a JSON template's answer is checked against its schema; ``--json`` then has
the parsed object under ``data`` (null otherwise) and the template's name under ``template``.

Every argument is checked before the first paid call (counts, sizes, ranges, the
``--out`` folder), and images that were paid for are always written: to ``--out``, or,
if that fails after the call, to the data folder's ``images/`` (then a temporary
folder), with their paths printed either way.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any

from sparklio_desktop.commands._args import MAX_IMAGES, MAX_OUTPUT_TOKENS, image_size, int_in
from sparklio_desktop.commands._conversation_turns import keep_summary, with_history
from sparklio_desktop.commands._conversation_turns import open_conversation as _open_conversation
from sparklio_desktop.commands._image_studio import add_image_options
from sparklio_desktop.commands._image_studio import image_options as image_options_from
from sparklio_desktop.commands._input import MAX_IMAGE_BYTES, read_bounded, read_prompt_stream
from sparklio_desktop.commands._output import answer_text, print_json, safe_text, warn_fallbacks
from sparklio_desktop.commands._route_options import add_route_options
from sparklio_desktop.commands._template_run import TemplateUsageError, add_template_options, apply_template
from sparklio_desktop.commands.route import read_prompt, request_from_args
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.providers.base import ImageInput, image_mime_type
from sparklio_desktop.core.settings import paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_route_options(parser, task_required=False)  # --template may give the task
    add_template_options(parser)
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEXT")
    prompt.add_argument("--prompt-file", metavar="PATH")
    parser.add_argument("--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)")
    parser.add_argument("--model", metavar="ID", help="force this catalog model")
    parser.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    parser.add_argument("--max-output-tokens", type=int_in(1, MAX_OUTPUT_TOKENS), metavar="N")
    parser.add_argument(
        "--images", type=int_in(1, MAX_IMAGES), metavar="N", help=f"images to generate, 1 to {MAX_IMAGES} (default 1)"
    )
    parser.add_argument("--size", type=image_size, metavar="WxH", help="image size to generate, e.g. 1024x1024")
    add_image_options(parser)
    parser.add_argument("--out", metavar="DIR", help="folder for generated images (created if missing)")
    parser.add_argument(
        "--stream",
        action="store_true",
        help="stream the answer to standard output even when it is not a terminal "
        "(a broken partial answer then stays in the output, marked on standard error)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    parser.add_argument(
        "--conversation",
        metavar="new|ID",
        help="keep this run in a conversation: 'new' starts one, an ID (or a unique prefix) continues it "
        "and sends its earlier turns as history (see `sparklio conversations`)",
    )
    parser.add_argument(
        "--send-everything",
        choices=("on", "off"),
        help="with --conversation: 'on' sends the conversation's whole history from now on (no trimming, "
        "no summary), 'off' trims it to the task's limit again; stored with the conversation",
    )


def _prompt(args: argparse.Namespace) -> str:
    text = read_prompt(args)
    if text is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise SparklioError("give a prompt: --prompt TEXT, --prompt-file PATH or standard input")

        text = read_prompt_stream(sys.stdin.buffer)
    if not text.strip():
        raise SparklioError("the prompt is empty")
    return text


def _images(names: list[str]) -> tuple[ImageInput, ...]:
    found = []
    for name in names:
        kind = image_mime_type(name)
        if kind is None:
            raise SparklioError(f"--image {name}: not a PNG, JPEG, WebP or GIF file")
        found.append(ImageInput(read_bounded(name, "--image", MAX_IMAGE_BYTES), kind))
    return tuple(found)


def check_out_dir(name: str) -> Path:
    """``--out`` as a folder that exists and takes files, checked before anything is paid for."""
    from sparklio_desktop.core.folders import writable_folder

    return writable_folder(name, f"--out {name}")


def save_images(images: tuple[bytes, ...], out: Path, stem: str) -> tuple[list[str], str | None]:
    """Write paid-for images to ``out``; if that fails, to the data folder's ``images/``,
    then to a new temporary folder. Returns the paths and why the fallback was used."""
    problem = None
    candidates: list[Any] = [
        out,
        lambda: paths.data_dir() / "images",
        lambda: Path(tempfile.mkdtemp(prefix="sparklio-")),
    ]
    for candidate in candidates:
        folder = candidate() if callable(candidate) else candidate
        written: list[str] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for index, data in enumerate(images, start=1):
                path = folder / f"{stem}-{index}.png"
                with open(path, "xb") as handle:  # never overwrite a file that is already there
                    handle.write(data)
                written.append(str(path))
            return written, problem
        except OSError as exc:
            for path in written:  # keep one complete set, in one place
                Path(path).unlink(missing_ok=True)
            problem = problem or f"cannot write to {folder}: {exc.strerror or exc}"
    raise OSError(f"no folder could take the {len(images)} generated images ({problem})")


class _AnswerPrinter:
    """Standard output gets the final answer once; the story of the attempts goes to stderr.

    ``live`` (a terminal): chunks are written as they arrive; when an attempt fails after
    writing some, stderr says that text is discarded and the next attempt starts afresh.
    Otherwise (a pipe, a file) nothing is written until the answer is complete.
    """

    def __init__(self, live: bool) -> None:
        self.live = live
        self.partial: list[str] = []  # text of the current attempt

    def started(self) -> None:
        self.partial = []

    def chunk(self, text: str) -> None:
        self.partial.append(text)
        if self.live:
            sys.stdout.write(answer_text(text))
            sys.stdout.flush()

    def failed(self, model: str) -> None:
        if not self.partial:
            return
        text = "".join(self.partial)
        self.partial = []
        if self.live:
            sys.stdout.write("\n")
            sys.stdout.flush()
            print(
                f"[the {len(text):,} characters above from {safe_text(model)} are discarded; the answer starts again]",
                file=sys.stderr,
            )
        else:
            preview = text if len(text) <= 200 else text[:200] + "…"
            print(
                f"[partial answer from {safe_text(model)} discarded ({len(text):,} characters): {safe_text(preview)}]",
                file=sys.stderr,
            )

    def finished(self, output: str, ok: bool) -> None:
        if self.live:
            if "".join(self.partial) and not "".join(self.partial).endswith("\n"):
                sys.stdout.write("\n")
        elif ok and output:
            sys.stdout.write(output if output.endswith("\n") else output + "\n")
        sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    # asyncio, the dispatcher and the services (pydantic, SQLAlchemy): only for a run, not --help
    import asyncio

    from sparklio_desktop.core.dispatch import AttemptFailed, AttemptStarted, Finished, RunRequest, TextChunk
    from sparklio_desktop.core.naming import model_name
    from sparklio_desktop.core.services import open_services

    # Everything the user gave is checked here, before open_services and any paid call.
    try:
        template = apply_template(args)  # --template: the prompt, task and route options (docs/templates.md)
    except TemplateUsageError as exc:  # a usage error, worded as argparse words its own
        print(f"sparklio run: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2
    prompt = template.prompt if template is not None else _prompt(args)
    images = _images(args.image)
    image_options = image_options_from(args)
    out = check_out_dir(args.out) if args.out else Path(".")
    # One request: the router prices the images and size that are generated (docs/dispatch.md).
    route = request_from_args(
        argparse.Namespace(**{**vars(args), "input_tokens": None, "output_tokens": None}), prompt, attachments=images
    )
    if template is not None:  # the template's system prompt instead of the task's
        route = dataclasses.replace(route, system_prompt=template.system)
    request = RunRequest(
        route=route,
        json_output=template.json_output if template is not None else None,
        model=args.model,
        use_cache=not args.no_cache,
        max_output_tokens=args.max_output_tokens,
        image_options=image_options,
        origin="cli",
    )
    # A conversation to continue is found (and its history read) before anything is paid for.
    conversation = None
    if args.conversation:
        from sparklio_desktop.core.conversations import ConversationNotFound

        try:
            everything = None if args.send_everything is None else args.send_everything == "on"
            conversation = _open_conversation(args.conversation, everything)
        except ConversationNotFound as exc:  # bad input: exit 2, as a bad option is
            print(f"sparklio: error: {safe_text(str(exc))}", file=sys.stderr)
            return 2
    elif args.send_everything is not None:
        print("sparklio run: error: --send-everything needs --conversation", file=sys.stderr)
        return 2
    services = open_services()

    warn_fallbacks(services.workspace)  # a broken user catalog or policy: say what is in force instead
    printer = _AnswerPrinter(live=not args.json and (args.stream or sys.stdout.isatty()))

    def name(model_id: str | None) -> str:
        """The model as the human text names it (the catalog's name); --json keeps the ids."""
        return model_name(services.workspace.catalog, model_id or "")

    summary = None

    async def go():
        from sparklio_desktop.core.dispatch import interrupts

        nonlocal conversation, summary
        interrupts.install()  # SIGTERM/SIGHUP: record the attempt in flight as interrupted, exit 128 + signum
        result = None
        try:
            if conversation is not None:  # the running summary of older turns, when due (its own ledger row)
                conversation, summary = await keep_summary(conversation, services.dispatcher, route.task)
            async for event in services.dispatcher.stream(with_history(request, conversation)):
                if isinstance(event, AttemptStarted):
                    printer.started()
                elif isinstance(event, TextChunk):
                    printer.chunk(event.text)
                elif isinstance(event, AttemptFailed):
                    info = event.info
                    printer.failed(name(info.model))
                    then = event.next_action
                    if then == "retry":
                        then = f"retrying in {event.wait_s:g} s" if event.wait_s else "retrying"
                    print(
                        f"[{safe_text(name(info.model))}: {info.error_class}: {safe_text(info.error)}; {then}]",
                        file=sys.stderr,
                    )
                elif isinstance(event, Finished):
                    result = event.result
        finally:
            await services.dispatcher.aclose()
        return result

    try:
        result = asyncio.run(go())
    finally:
        services.close()
    written: list[str] = []
    if result.images:
        written, problem = save_images(result.images, out, result.request_id[:12])
        if problem:
            print(
                f"sparklio: warning: {safe_text(problem)}; the images were saved in "
                f"{safe_text(Path(written[0]).parent)}",
                file=sys.stderr,
            )
    if result.gallery_warning:  # the images are printed and saved all the same
        print(f"sparklio: warning: {safe_text(result.gallery_warning)}", file=sys.stderr)
    conversation_id = None
    if conversation is not None:
        try:
            conversation_id = conversation.record(args, prompt, result, written)
        except SparklioError as exc:  # the run is paid for: its answer is still printed
            print(
                f"sparklio: warning: the run was not kept in the conversation: {safe_text(str(exc))}", file=sys.stderr
            )
        else:
            if not args.json:
                print(f"[conversation {conversation_id}]", file=sys.stderr)
    if args.json:
        payload = result.to_dict()
        payload["files"] = written
        payload["conversation_id"] = conversation_id
        payload["template"] = template.template if template is not None else None
        payload["history_summary"] = (
            None
            if summary is None
            else {"request_id": summary.request_id, "model": summary.model, "cost_usd": summary.cost_usd}
        )
        print_json(payload)
    else:
        printer.finished(result.output, result.ok)
        for path in written:
            print(safe_text(path))
        if result.ok:
            print(
                f"[{safe_text(name(result.model))}{' (cache)' if result.cache_hit else ''}; "
                f"{format_usd(result.cost_usd)}; request {result.request_id}]",
                file=sys.stderr,
            )
    if result.budget_alert:
        print(result.budget_alert, file=sys.stderr)
    if not result.ok:
        print(f"sparklio: error: {safe_text(result.error, keep_newlines=True)}", file=sys.stderr)
        return 1
    return 0
