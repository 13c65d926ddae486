"""``sparklio batch``: many rows of a CSV or JSONL file, one routed request each (docs/batches.md).

``run`` checks everything before anything is paid for: the file (located errors), the
template against its columns, ``--out``, the task; then it prices the batch and, above
:data:`~sparklio_desktop.core.batches.CONFIRM_ABOVE_USD`, asks (``--yes`` skips the
question; without a terminal to ask on, the batch is refused with exit 2). ``list``,
``status``, ``resume`` and ``cancel`` work on the batches file. SIGTERM, SIGHUP and
Ctrl+C stop sending rows, record the attempts in flight as the dispatcher does
(core/dispatch/interrupts.py) and leave the batch paused, resumable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sparklio_desktop.commands._args import MAX_OUTPUT_TOKENS, int_in
from sparklio_desktop.commands._output import print_json, safe_text, table, warn_fallbacks
from sparklio_desktop.commands._route_options import add_route_options
from sparklio_desktop.commands._template_run import ROUTE_OPTIONS, TemplateUsageError, add_template_options
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd

MAX_CONCURRENCY = 32  # core.batches.MAX_CONCURRENCY (kept here so `--help` imports no core)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="batch_command", required=True, parser_class=type(parser))

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON")

    run = sub.add_parser("run", help="run a batch: one routed request per row of FILE.csv or FILE.jsonl")
    run.add_argument("file", metavar="FILE", help="a .csv file with a header row, or a .jsonl file of objects")
    add_route_options(run, task_required=False)
    run.add_argument("--prompt-template", metavar="TEXT", help="the prompt, with {column} for a column's value")
    add_template_options(run)  # or --template NAME: its variables from the columns (and --var)
    run.add_argument(
        "--concurrency", type=int_in(1, MAX_CONCURRENCY), default=4, metavar="N",
        help=f"rows in flight at once, 1 to {MAX_CONCURRENCY} (default 4)",
    )  # fmt: skip
    run.add_argument("--out", metavar="PATH", help="results file, .jsonl or .csv (default: the data folder)")
    run.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    run.add_argument("--max-output-tokens", type=int_in(1, MAX_OUTPUT_TOKENS), metavar="N")
    run.add_argument("--yes", action="store_true", help="start without asking, whatever the estimate")
    run.add_argument(
        "--no-wait", action="store_true",
        help="speed batch: submit the provider batch jobs and return (resume or the app collects them)",
    )  # fmt: skip
    json_flag(run)

    listing = sub.add_parser("list", help="batches, newest first")
    json_flag(listing)
    for name, help_text in (
        ("status", "a batch's counts and cost"),
        ("resume", "send a paused or crashed batch's unfinished rows (finished rows are never sent again)"),
        ("cancel", "cancel a batch: no further row is sent (a running batch stops after its rows in flight)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("id", metavar="ID")
        json_flag(p)


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.batches import BatchBusy, BatchInputError, BatchNotFound

    try:
        return int(_COMMANDS[args.batch_command](args))
    except (
        BatchInputError,
        BatchNotFound,
        BatchBusy,
        TemplateUsageError,
    ) as exc:  # bad input: exit 2, as a bad option is
        print(f"sparklio: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options = {
        "complexity": args.complexity,
        "budget": args.budget,
        "speed": args.speed,
        "quality": args.quality,
        "seed": args.seed,
        "no_explore": args.no_explore,
        "no_cache": args.no_cache,
        "max_output_tokens": args.max_output_tokens,
    }
    return {key: value for key, value in options.items() if value not in (None, False)}


def _run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.batches import (
        CONFIRM_ABOVE_USD,
        BatchStore,
        Template,
        check_out_path,
        estimate_batch,
        read_rows,
    )
    from sparklio_desktop.core.batches.store import new_batch_id
    from sparklio_desktop.core.services import open_services
    from sparklio_desktop.core.settings import paths
    from sparklio_desktop.core.workspace import Workspace

    # Everything the user gave is checked before the services open and anything is paid for.
    if (args.prompt_template is None) == (args.template is None):
        raise TemplateUsageError("give --prompt-template TEXT or --template NAME (one of them)")
    if args.var and args.template is None:
        raise TemplateUsageError("--var needs --template NAME")
    rows = read_rows(args.file)
    from_template = _from_template(args, rows) if args.template is not None else {}
    if args.task is None:
        raise TemplateUsageError("give --task TASK or --template NAME")
    template = Template.parse(args.prompt_template)
    prompts = template.prompts(rows)
    out = check_out_path(args.out) if args.out else None
    workspace = Workspace()
    workspace.policy.task(args.task)  # an unknown task: one line with the known ones
    options = {**_options(args), **from_template}
    services = open_services(workspace)
    try:
        warn_fallbacks(services.workspace)
        estimate = estimate_batch(services.planner, args.task, options, prompts, _at_batch_rates(services))
        how = "" if estimate.exact else f" (from {estimate.sampled} sampled rows)"
        print(
            f"[{len(prompts):,} rows; estimated {format_usd(estimate.total_usd)}{how}; {', '.join(estimate.models)}]",
            file=sys.stderr,
        )
        if estimate.total_usd > CONFIRM_ABOVE_USD and not args.yes and not _confirm(estimate.total_usd):
            return 2
        batch_id = new_batch_id()
        if out is None:
            folder = paths.data_dir() / "batches"
            folder.mkdir(parents=True, exist_ok=True)
            out = check_out_path(folder / f"{batch_id}.jsonl")
        with BatchStore.open_default() as store:
            store.create(
                task=args.task, template=args.prompt_template, options=options, source_path=str(rows.path.resolve()),
                out_path=str(out.resolve()), concurrency=args.concurrency, prompts=prompts, batch_id=batch_id,
            )  # fmt: skip
            if not args.json:
                print(f"[batch {batch_id}; results to {safe_text(out)}]", file=sys.stderr)
            return _go(services, store, batch_id, args.json, estimate.to_dict(), wait=not args.no_wait)
    finally:
        services.close()


def _from_template(args: argparse.Namespace, rows: Any) -> dict[str, Any]:
    """``--template NAME``: the batch's prompt template (into ``args.prompt_template``), the
    template's task and route options where the user gave none, and the options that carry
    its system prompt and JSON output (core/batches/from_template.py)."""
    from sparklio_desktop.commands._template_run import template_pairs
    from sparklio_desktop.core.batches.from_template import batch_prompt_from_template
    from sparklio_desktop.core.errors import UnknownNameError
    from sparklio_desktop.core.templates import find_template

    try:
        loaded, skipped = find_template(args.template)
    except UnknownNameError as exc:
        raise TemplateUsageError(str(exc)) from None
    for error in skipped:
        print(f"sparklio: warning: skipped a template: {safe_text(str(error))}", file=sys.stderr)
    args.prompt_template, options = batch_prompt_from_template(
        loaded.template, rows.columns, template_pairs(args.var), rows.path.name
    )
    if args.task is None:
        args.task = loaded.template.task
    for option in ROUTE_OPTIONS:
        value = getattr(loaded.template.route, option)
        if getattr(args, option) is None and value is not None:
            setattr(args, option, value.value)
    return options


def _confirm(total: Decimal) -> bool:
    """Ask on the terminal; with none to ask on, refuse in one line (exit 2)."""
    from sparklio_desktop.core.batches import CONFIRM_ABOVE_USD

    above = f"the batch is estimated at {format_usd(total)}, above {format_usd(CONFIRM_ABOVE_USD)}"
    if sys.stdin is None or not sys.stdin.isatty():
        print(f"sparklio: error: {above}; add --yes to run it", file=sys.stderr)
        return False
    # The question goes to standard error: standard output is kept for the results (--json).
    sys.stderr.write(f"{above}. Start it? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        print("sparklio: not started", file=sys.stderr)
        return False
    return True


def _at_batch_rates(services: Any) -> Any:
    """A routed row's cost at the batch rates when it would go in a provider batch job."""
    from sparklio_desktop.core.dispatch.provider_batch import batch_rate_cost

    catalog = services.workspace.catalog
    return lambda decision: batch_rate_cost(catalog[decision.chain[0]], decision)


def _go(
    services: Any, store: Any, batch_id: str, as_json: bool, estimate: dict[str, Any] | None, *, wait: bool = True
) -> int:
    """Run the batch's pending rows to the end (or a signal); print the outcome."""
    import asyncio
    import gc

    from sparklio_desktop.core.batches import BatchRunner, ResultsFile
    from sparklio_desktop.core.batches.job_runner import poll_pauses
    from sparklio_desktop.core.batches.jobs import JobStore
    from sparklio_desktop.core.batches.runner import ledger_answer
    from sparklio_desktop.core.dispatch.provider_batch import ProviderBatches

    store.claim(batch_id)  # before anything is settled: one process runs a batch at a time
    batch = store.get(batch_id)
    results = ResultsFile.open(Path(batch.out_path)) if batch.out_path else None
    progress = _Progress(batch_id) if not as_json and sys.stderr.isatty() else None
    jobs = ProviderBatches(services.dispatcher)
    runner = BatchRunner(store, services.dispatcher, batch, results, progress, jobs=jobs, wait_for_jobs=wait)
    runner.first_poll_s, runner.max_poll_s = poll_pauses()

    recovered = runner.recover(ledger_answer(services.ledger))
    if recovered and not as_json:
        print(f"[{recovered} rows were answered before the batch stopped; not sent again]", file=sys.stderr)
    exit_code: int | None = None

    async def go() -> None:
        nonlocal exit_code
        from sparklio_desktop.core.dispatch import interrupts

        main = asyncio.current_task()

        def on_signal(code: int) -> None:
            nonlocal exit_code
            exit_code = code  # the attempts in flight are already recorded as interrupted
            runner.stop()
            if main is not None:
                main.cancel()

        interrupts.install(on_exit=on_signal)
        try:
            await runner.run()
        except asyncio.CancelledError:
            if exit_code is None:
                raise  # Ctrl+C: asyncio.run raises KeyboardInterrupt (exit 130)
        finally:
            await jobs.aclose()
            await services.dispatcher.aclose()

    # What start-up built (the catalog, pydantic models, the SDK) lives until the process ends:
    # out of the collector's way, a generation-2 pass in the middle of a 1,000-row batch
    # stalls the loop 60 ms instead of 100-150 (benchmarks/bench_batch.py).
    gc.freeze()
    try:
        asyncio.run(go())
    finally:
        if results is not None:
            results.close()
        if progress is not None:
            progress.end()
    final = store.get(batch_id)
    waiting = JobStore(store).open_jobs(batch_id)
    if as_json:
        payload = final.to_dict()
        payload["batch_id"] = final.id
        payload["sent"] = runner.sent
        payload["recovered"] = recovered
        payload["provider_jobs"] = [job.to_dict() for job in waiting]
        if estimate is not None:
            payload["estimate"] = estimate
        print_json(payload)
    else:
        _print_summary(final, waiting)
    if waiting and exit_code is None:
        print(
            f"sparklio: {sum(j.ref.total for j in waiting)} rows wait on provider batch jobs; "
            f"`sparklio batch resume {batch_id}` (or the app) collects them when they end",
            file=sys.stderr,
        )
        return 0 if final.counts.failed == 0 else 1
    if exit_code is not None:
        print(f"sparklio: batch {batch_id} stopped; `sparklio batch resume {batch_id}` goes on", file=sys.stderr)
        return exit_code
    return 0 if final.counts.failed == 0 else 1


class _Progress:
    """One line on a terminal's standard error, rewritten as rows finish."""

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.shown = False

    def __call__(self, counts: Any) -> None:
        finished = counts.done + counts.failed
        width = 24
        filled = width * finished // max(counts.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        line = f"\r[{bar}] {finished}/{counts.total} ({counts.failed} failed) {format_usd(counts.cost_usd)}"
        sys.stderr.write(line)
        sys.stderr.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _print_summary(batch: Any, jobs: Sequence[Any] = ()) -> None:
    c = batch.counts
    status = batch.status
    if status == "running" and not batch.active:
        status = f"stopped (its process is gone; `sparklio batch resume {batch.id}` goes on)"
    print(
        f"batch {batch.id}: {status}; {c.done} done, {c.failed} failed, {c.unfinished} unfinished "
        f"of {c.total}; {format_usd(c.cost_usd)}"
        + (f"; results in {safe_text(batch.out_path)}" if batch.out_path else "")
    )
    for job in jobs:
        print(f"  {job.words()}")


def _list(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.batches import BatchStore

    with BatchStore.open_default() as store:
        batches = store.batches()
    if args.json:
        print_json([b.to_dict() for b in batches])
        return 0
    if not batches:
        print("no batches yet; `sparklio batch run FILE --task T --prompt-template ...` starts one")
        return 0
    print(
        table(
            [
                (
                    b.id,
                    b.status,
                    f"{b.created_at:%Y-%m-%d %H:%M}",
                    b.task,
                    f"{b.counts.done}/{b.counts.total}",
                    b.counts.failed,
                    format_usd(b.counts.cost_usd),
                )
                for b in batches
            ],  # fmt: skip
            ["id", "status", "created", "task", "done", "failed", "cost"],
        )
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.batches import BatchStore
    from sparklio_desktop.core.batches.jobs import JobStore

    with BatchStore.open_default() as store:
        batch = store.get(args.id)
        jobs = JobStore(store).open_jobs(batch.id)
    if args.json:
        print_json({**batch.to_dict(), "provider_jobs": [job.to_dict() for job in jobs]})
    else:
        _print_summary(batch, jobs)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.batches import BatchStore
    from sparklio_desktop.core.batches.jobs import JobStore
    from sparklio_desktop.core.services import open_services

    with BatchStore.open_default() as store:
        batch = store.get(args.id)
        collect_only = batch.status == "cancelled" and bool(JobStore(store).open_jobs(batch.id))
        if batch.status == "cancelled" and not collect_only:
            print(f"sparklio: error: batch {batch.id} was cancelled; it cannot be resumed", file=sys.stderr)
            return 2
        if batch.status == "done":
            if args.json:
                print_json(batch.to_dict())
            else:
                _print_summary(batch)
            return 0
        services = open_services()  # opening the ledger closes the attempts a killed process left
        try:
            return _go(services, store, batch.id, args.json, None)
        finally:
            services.close()


def _cancel(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.batches import BatchStore

    with BatchStore.open_default() as store:
        batch = store.get(args.id)
        if batch.status == "done":
            raise SparklioError(f"batch {batch.id} is already done")
        store.set_status(batch.id, "cancelled")
        _cancel_jobs(store, batch)
        batch = store.get(batch.id)
    if args.json:
        print_json(batch.to_dict())
    else:
        _print_summary(batch)
    return 0


def _cancel_jobs(store: Any, batch: Any) -> None:
    """Ask the providers to stop the batch's submitted jobs now, whoever polls them (what
    they answered before stopping is still collected by the next poll)."""
    import asyncio

    from sparklio_desktop.core.batches.job_runner import cancel_job
    from sparklio_desktop.core.batches.jobs import JobStore
    from sparklio_desktop.core.dispatch.provider_batch import ProviderBatches
    from sparklio_desktop.core.services import open_services

    job_store = JobStore(store)
    submitted = [job for job in job_store.open_jobs(batch.id) if job.state == "submitted"]
    if not submitted:
        return
    services = open_services()
    jobs = ProviderBatches(services.dispatcher)
    refusals: list[str] = []

    async def cancel_all() -> None:
        try:
            for job in submitted:
                refusal = await cancel_job(jobs, job_store, job.ref)
                if refusal:
                    refusals.append(refusal)
        finally:
            await jobs.aclose()
            await services.dispatcher.aclose()

    try:
        asyncio.run(cancel_all())
    finally:
        services.close()
    for refusal in refusals:
        print(f"sparklio: the provider did not confirm the cancel: {safe_text(refusal)}", file=sys.stderr)


_COMMANDS = {"run": _run, "list": _list, "status": _status, "resume": _resume, "cancel": _cancel}
