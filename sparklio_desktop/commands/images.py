"""``sparklio images``: the gallery of every generated image (core/gallery).

    sparklio images [list] [--search TEXT] [--checkpoint NAME] [--limit N] [--offset N] [--json]
    sparklio images show ID [--json]
    sparklio images rm ID [--delete-file] [--json]
    sparklio images import FILE.png... [--json]

An ID may be a unique prefix of at least 4 characters. A bad id or an unreadable file
to import is one ``sparklio: error:`` line and exit 2, like any other usage error; a
gallery file that cannot be used (damaged, read-only folder) is exit 1, as for the
ledger. ``--json`` prints each image's path, source, request, model, cost (exact, as
text) and its parameters. ``rm`` forgets the image and keeps its file unless
``--delete-file``. ``import`` records PNGs made elsewhere (AUTOMATIC1111, ComfyUI,
Sparklio) with the settings they carry, as source ``imported``; the files stay where
they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparklio_desktop.commands._args import int_in
from sparklio_desktop.commands._output import print_json, safe_text, table
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd

if TYPE_CHECKING:
    from sparklio_desktop.core.gallery import GalleryImage, GalleryStore

MAX_LIMIT = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="images_command", parser_class=type(parser))

    def json_flag(p: argparse.ArgumentParser) -> None:
        # SUPPRESS: `images --json show ID` keeps the --json given before the word.
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    def list_flags(p: argparse.ArgumentParser, default: Any) -> None:
        p.add_argument("--search", metavar="TEXT", default=default, help="words of the prompt or negative prompt")
        p.add_argument("--checkpoint", metavar="NAME", default=default, help="only images of this checkpoint")
        p.add_argument("--limit", type=int_in(1, MAX_LIMIT), default=default, metavar="N", help="how many (50)")
        p.add_argument("--offset", type=int_in(0, MAX_LIMIT), default=default, metavar="N", help="skip the first N")

    list_flags(parser, None)
    listing = sub.add_parser("list", help="the images, newest first")
    json_flag(listing)
    list_flags(listing, argparse.SUPPRESS)

    show = sub.add_parser("show", help="one image's file and every parameter")
    show.add_argument("id", metavar="ID")
    json_flag(show)

    rm = sub.add_parser("rm", help="forget an image (--delete-file also deletes the file)")
    rm.add_argument("id", metavar="ID")
    rm.add_argument("--delete-file", action="store_true", help="delete the image file too")
    json_flag(rm)

    imported = sub.add_parser("import", help="record PNGs made elsewhere (A1111, ComfyUI) with their settings")
    imported.add_argument("files", nargs="+", metavar="FILE")
    json_flag(imported)


class _UsageError(SparklioError):
    """Bad input on the command line: exit 2 (the store's own errors about the file stay 1)."""


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.gallery import GalleryImageNotFound, GalleryStore

    command = args.images_command or "list"
    try:
        with GalleryStore.open_default() as store:
            return int(_COMMANDS[command](store, args))
    except (GalleryImageNotFound, _UsageError) as exc:
        print(f"sparklio: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2


def _cost(image: GalleryImage) -> str:
    return format_usd(image.cost_usd) if image.cost_usd is not None else ""


def _list(store: GalleryStore, args: argparse.Namespace) -> int:
    limit = args.limit or 50
    rows = store.page(args.offset or 0, limit, query=args.search, checkpoint=args.checkpoint)
    if args.json:
        print_json([image.to_dict() for image in rows])
        return 0
    if not rows:
        filtered = args.search or args.checkpoint
        print("no images match" if filtered else "no images yet (`sparklio run --task image_generation_bulk ...`)")
        return 0
    print(
        table(
            [
                (
                    image.id,
                    f"{image.created_at:%Y-%m-%d %H:%M}" if image.created_at else "",
                    f"{image.width}x{image.height}" if image.width and image.height else "",
                    image.checkpoint or image.model_id or "",
                    _cost(image),
                    _short(image.prompt),
                )
                for image in rows
            ],
            ("ID", "CREATED (UTC)", "SIZE", "MODEL", "COST", "PROMPT"),
        )
    )
    total = store.count(query=args.search, checkpoint=args.checkpoint)
    if total > len(rows):
        print(f"[{len(rows)} of {total}; --offset and --limit page through them]", file=sys.stderr)
    return 0


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _show(store: GalleryStore, args: argparse.Namespace) -> int:
    image = store.get(args.id)
    if args.json:
        print_json(image.to_dict())
        return 0
    facts = image.to_dict()
    lines = [
        f"image {image.id}  ({image.source}, {facts['created_at']})",
        f"file: {image.path}" + ("" if image.path.exists() else "  (missing)"),
    ]
    for key in ("request_id", "model_id", "provider"):
        if facts[key]:
            lines.append(f"{key.replace('_', ' ')}: {facts[key]}")
    if image.cost_usd is not None:
        lines.append(f"cost: {_cost(image)}")
    for key, value in facts["parameters"].items():
        if value in (None, "", []):
            continue
        if key == "loras":
            value = ", ".join(f"{lora['name']}:{lora['weight']:g}" for lora in value)
        lines.append(f"{key.replace('_', ' ')}: {value}")
    print(safe_text("\n".join(lines), keep_newlines=True))
    return 0


def _rm(store: GalleryStore, args: argparse.Namespace) -> int:
    image = store.remove(args.id, delete_file=args.delete_file)
    if args.json:
        print_json({"id": image.id, "path": str(image.path), "file_deleted": bool(args.delete_file)})
    else:
        kept = "deleted" if args.delete_file else "kept"
        print(f"removed image {image.id} from the gallery; its file {safe_text(image.path)} was {kept}")
    return 0


def _import(store: GalleryStore, args: argparse.Namespace) -> int:
    from sparklio_desktop.core.gallery.png_chunks import is_png
    from sparklio_desktop.core.gallery.recorder import image_row

    rows = []
    for name in args.files:  # every file is checked before any is recorded
        path = Path(name).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
        if not is_png(data):
            raise _UsageError(f"{name} is not a PNG file")
        rows.append(image_row(path.resolve(), data, "imported"))
    ids = [store.add(row) for row in rows]
    if args.json:
        print_json([store.get(new_id).to_dict() for new_id in ids])
    else:
        for new_id, row in zip(ids, rows, strict=True):
            print(f"{new_id}  {safe_text(row.path)}  {safe_text(_short(row.prompt))}")
    return 0


_COMMANDS = {"list": _list, "show": _show, "rm": _rm, "import": _import}
