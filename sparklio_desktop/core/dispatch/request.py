"""The one value a front end builds to run a task: :class:`RunRequest`.

Why one value: the composer used to strip the prompt and images from the route request
and the dispatcher put them back, so a 4-image run stored a decision priced for one
(issue 10). A ``RunRequest`` wraps the :class:`RouteRequest` that holds the route's
options once (task, prompt, attached images, image count and size) and adds only what
the run alone needs. It is checked when it is built, before anything is routed or paid
for, whichever front end built it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, cast

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.history import HISTORY_TOKEN_LIMIT, ContextWindow, HistorySummary, fit_context
from sparklio_desktop.core.ledger.records import RUN_ID_LIMIT, is_run_id
from sparklio_desktop.core.providers.base import Message
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.structured_output import JsonOutput

if TYPE_CHECKING:  # the local image stack is imported only when an image is generated
    from sparklio_desktop.core.local.sd.service import ImageOptions, ImageProgress

__all__ = ["DEFAULT_IMAGE_SIZE", "RunRequest"]

# The size a paid image is priced and generated at when the request names none.
DEFAULT_IMAGE_SIZE = "1024x1024"
_REQUEST_ID_RE = re.compile(r"[0-9a-f]{8,64}")


@dataclass(frozen=True)
class RunRequest:
    """One task to run: its :class:`RouteRequest` (task, options, prompt, attached images,
    image count and size, each held once there, so the decision the ledger stores is
    priced for exactly what runs) and what only the run needs. ``history`` holds earlier
    turns of a conversation, all of them; ``window`` is what of them is sent (the task's
    ``history_limit``, the conversation's ``history_summary`` and ``send_everything``,
    core/history.py ``fit_context``); local image settings are ``image_options``.
    """

    route: RouteRequest
    history: tuple[Message, ...] = ()
    model: str | None = None  # force this model (no routing chain)
    use_cache: bool = True
    max_output_tokens: int | None = None
    temperature: float | None = None
    image_options: ImageOptions | None = None  # local image generation: steps, negative prompt, guidance, seed
    # Local image generation: (step, total, PNG preview or None), called on the event loop's thread.
    image_progress: ImageProgress | None = None
    # The ledger's request id for this run (default: a new random one). A recipe run gives
    # its steps ids that start with the run's id, so the ledger rows of one run share it.
    request_id: str | None = None
    # The recipe run or batch this request is part of: written on every one of its attempt
    # rows (the ledger's ``run_id``), so ``sparklio history --run ID`` lists the run.
    run_id: str | None = None
    # Who asked ("images", "recipe", "batch", "cli"): the GPU queue's list names it.
    origin: str = "images"
    # Ask for one JSON object following a schema (a template's ``output: json``): sent in each
    # provider's structured-output mode and checked when it arrives (docs/templates.md).
    json_output: JsonOutput | None = None
    # The history's token limit: the task's ``context.max_history_tokens`` (the dispatcher
    # fills it from the policy when a front end leaves it None; until then the first
    # wave's fixed limit prices the route).
    history_limit: int | None = None
    # The conversation's running summary of its oldest turns, and its opt-out.
    history_summary: HistorySummary | None = None
    send_everything: bool = False
    # Each history turn's attachment names (parallel to ``history``; may be empty): turns
    # pushed out of the window have their images named in the context message.
    history_attachments: tuple[tuple[str, ...], ...] = ()
    window: ContextWindow = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Send the recent turns that fit (core/history.py), and price the route for them
        # (issue 12: a follow-up estimated at 44 input tokens was billed 766). Done here,
        # once, for every front end, whatever count the front end's preview used.
        if self.history_limit is not None and (
            isinstance(self.history_limit, bool) or not isinstance(self.history_limit, int) or self.history_limit < 0
        ):
            raise SparklioError(f"a history limit is a whole number of tokens, not {self.history_limit!r}")
        window = fit_context(
            self.history,
            HISTORY_TOKEN_LIMIT if self.history_limit is None else self.history_limit,
            self.history_summary,
            send_everything=self.send_everything,
            attachments=self.history_attachments,
        )
        object.__setattr__(self, "window", window)
        if self.route.history_tokens != window.sent_tokens:
            object.__setattr__(self, "route", replace(self.route, history_tokens=window.sent_tokens))
        # ``images=0`` used to bill one DALL-E image (front ends add upper bounds).
        if not isinstance(self.route.prompt, str):
            raise SparklioError("a run needs a prompt")
        count = self.route.images
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise SparklioError(f"the number of images must be a whole number of at least 1, not {count!r}")
        if self.request_id is not None and not _REQUEST_ID_RE.fullmatch(self.request_id):
            raise SparklioError(f"a request id is 8 to 64 lowercase hex digits, not {self.request_id!r}")
        if self.run_id is not None and not is_run_id(self.run_id):
            raise SparklioError(
                f"a run id is 1 to {RUN_ID_LIMIT} printable ASCII characters without spaces, not {self.run_id!r}"
            )
        if self.max_output_tokens is not None and (
            isinstance(self.max_output_tokens, bool)
            or not isinstance(self.max_output_tokens, int)
            or self.max_output_tokens < 1
        ):
            raise SparklioError(f"the maximum output must be at least 1 token, not {self.max_output_tokens!r}")

    @property
    def history_sent(self) -> tuple[Message, ...]:
        """The turns of ``history`` that are sent, oldest first."""
        return cast(tuple[Message, ...], self.window.turns)

    @property
    def history_tokens_sent(self) -> int:
        """Tokens of history sent: the kept turns and the summary message."""
        return self.window.sent_tokens

    @property
    def history_tokens_saved(self) -> int:
        """Tokens of the full history not sent (the full history minus what is sent)."""
        return self.window.saved_tokens

    @property
    def prompt(self) -> str:
        return self.route.prompt or ""

    @property
    def system_prompt(self) -> str | None:
        """The system prompt sent instead of the task's (a template's), or None."""
        return self.route.system_prompt

    @property
    def n_images(self) -> int:
        """Images to generate (image generation): the route's count, else one."""
        return self.route.images if self.route.images is not None else 1

    @property
    def paid_image_size(self) -> str:
        """The size a provider's images are generated and priced at."""
        return self.route.image_size or DEFAULT_IMAGE_SIZE
