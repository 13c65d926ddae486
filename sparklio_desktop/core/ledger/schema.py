"""The ledger's tables as SQLAlchemy Core objects, for building queries.

These describe the schema that the migrations produce (the legacy chain in ``migrations.py``,
then the Alembic revisions in ``alembic/versions/``); they are
never used to create tables (``metadata.create_all`` is not called). A test compares
them with the columns of a freshly migrated file so the two cannot drift apart.
Money columns are :class:`Money` (INTEGER picodollars <-> Decimal USD) and times
:class:`UtcDateTime` (ISO-8601 UTC text <-> aware datetime).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, Table, Text

from sparklio_desktop.core.ledger.column_types import IntBoolean, Money, UtcDateTime

metadata = MetaData()

llm_usage = Table(
    "llm_usage",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ts_utc", UtcDateTime, nullable=False),
    Column("user", Text, nullable=False),
    Column("task_type", Text, nullable=False),
    Column("complexity", Text),
    Column("budget_tier", Text),
    Column("speed", Text),
    Column("quality_target", Text),
    Column("model_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("error_class", Text),
    Column("error_message", Text),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("images", Integer, nullable=False),
    Column("usage_source", Text, nullable=False),
    Column("price_input_per_mtok", Money),
    Column("price_output_per_mtok", Money),
    Column("price_per_image", Money),
    Column("cost_usd", Money, nullable=False),
    Column("saved_usd", Money, nullable=False),
    Column("latency_s", Float),
    Column("ttft_s", Float),
    Column("tokens_per_s", Float),
    Column("waited_s", Float, nullable=False),
    Column("exploration", IntBoolean, nullable=False),
    Column("gpu_seconds", Float),
    Column("rating", Integer),
    # Added by m004_attempt_lifecycle: the process that started the attempt (set while
    # it is in flight), its input estimate priced at start (what an attempt whose
    # process ended is billed) and the worst case reserved for it.
    Column("owner_pid", Integer),
    Column("owner_start", Text),
    Column("start_cost_usd", Money),
    Column("worst_case_usd", Money),
    # Added by m005_billing_parts: the parts of the usage billed at their own rates
    # (cache reads and writes within input_tokens, reasoning within output_tokens), and
    # the rates and tier actually applied.
    Column("cache_read_tokens", Integer, nullable=False),
    Column("cache_write_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("image_quality", Text),
    Column("batch", IntBoolean, nullable=False),
    Column("price_cache_read_per_mtok", Money),
    Column("price_cache_write_per_mtok", Money),
    Column("price_reasoning_per_mtok", Money),
    Column("price_tier_above_tokens", Integer),
    # Added by m006_run_id: the recipe run or batch the attempt belongs to (NULL: none).
    Column("run_id", Text),
    # Added by m008_member_host: the team member who sent it and the host it ran on
    # (core/ledger/members.py). Rows from before: member = their user, host NULL.
    Column("member", Text),
    Column("host", Text),
)

decisions = Table(
    "decisions",
    metadata,
    Column("request_id", Text, primary_key=True),
    Column("ts_utc", UtcDateTime, nullable=False),
    Column("user", Text, nullable=False),
    Column("task_type", Text, nullable=False),
    Column("prompt_preview", Text, nullable=False),
    Column("prompt_sha256", Text, nullable=False),
    Column("trace_json", Text, nullable=False),
    Column("final_model_id", Text),
    Column("exploration", IntBoolean, nullable=False),
    # Added by m007_history_tokens: a conversation's history sent, and saved by trimming.
    Column("history_tokens_sent", Integer, nullable=False),
    Column("history_tokens_saved", Integer, nullable=False),
)

comparisons = Table(
    "comparisons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ts_utc", UtcDateTime, nullable=False),
    Column("user", Text, nullable=False),
    Column("task_type", Text, nullable=False),
    Column("prompt_sha256", Text, nullable=False),
    Column("models_json", Text, nullable=False),
    Column("order_shown_json", Text, nullable=False),
    Column("blind", IntBoolean, nullable=False),
)

votes = Table(
    "votes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("comparison_id", Integer, ForeignKey("comparisons.id"), nullable=False),
    Column("ts_utc", UtcDateTime, nullable=False),
    Column("vote", Text, nullable=False),
    Column("ranking_json", Text),
    Column("stars_json", Text),
)

budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("month", Text, nullable=False),
    Column("amount_usd", Money, nullable=False),
    Column("created_utc", UtcDateTime, nullable=False),  # for people; never used to expire it
    Column("owner_pid", Integer),  # m004: the process holding it (see core.ledger.owners)
    Column("owner_start", Text),
    Column("member", Text),  # m008: whose limit it counts against (NULL: before m008)
)

alerts = Table(
    "alerts",
    metadata,
    Column("month", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("ts_utc", UtcDateTime, nullable=False),
)

# Kept by the llm_usage_rollup trigger; ``day`` is 'YYYY-MM-DD' (UTC).
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", Text, primary_key=True),
    Column("user", Text, primary_key=True),
    Column("member", Text, primary_key=True),  # m008
    Column("model_id", Text, primary_key=True),
    Column("provider", Text, primary_key=True),
    Column("task_type", Text, primary_key=True),
    Column("outcome", Text, primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("fallbacks", Integer, nullable=False),
    Column("cost_usd", Money, nullable=False),
    Column("saved_usd", Money, nullable=False),
)

# Added by m008_member_host: the same rollup per UTC month ('YYYY-MM'), by member; the
# spend breakdowns and the budget's month sums read it (a month is a few thousand rows).
usage_monthly = Table(
    "usage_monthly",
    metadata,
    Column("month", Text, primary_key=True),
    Column("member", Text, primary_key=True),
    Column("model_id", Text, primary_key=True),
    Column("provider", Text, primary_key=True),
    Column("task_type", Text, primary_key=True),
    Column("outcome", Text, primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("fallbacks", Integer, nullable=False),
    Column("cost_usd", Money, nullable=False),
    Column("saved_usd", Money, nullable=False),
)

# Added by Alembic revision 0002 (core/ledger/alembic/versions/): settings the whole team
# shares in team mode (the team budget: core/ledger/shared_settings.py).
shared_settings = Table(
    "shared_settings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_utc", Text, nullable=False),
    Column("updated_by", Text),
)
