"""Writes of the analytics: the rebuild of the call rollups from the calls (set-based SQL).

`analytics_rebuild` is what `manage.py analytics_rebuild` and the call-log benchmark run; the rollups
are otherwise maintained call by call (telephony_app/analytics/rollups.py).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import connection, transaction

from telephony_app.analytics.buckets import LATENCY_LOWER, TALK_LOWER
from telephony_app.analytics.rollups import COUNT_COLUMNS, HIST_COLUMNS, STATUS_COLUMNS
from telephony_app.models import TERMINAL_STATUSES, Call, CallRollup
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

KEY = ("tenant_id", "day", "agent_id", "campaign_code", "direction")
# The turn histograms, numbered in the SQL: (number, rollup column, turn_metrics key).
TURN_METRICS = [(n, column, metric) for n, (column, metric) in enumerate(HIST_COLUMNS.items()) if metric is not None]


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild wrote: rollup rows, and the calls they count."""

    rows: int
    calls: int


def _pivot(size: int, condition: str = "TRUE") -> str:
    """ARRAY[n of bucket 1, ..., n of bucket size] over already grouped (b, n) rows."""
    items = ", ".join(f"COALESCE(sum(n) FILTER (WHERE {condition} AND b = {i}), 0)::int" for i in range(1, size + 1))
    return f"ARRAY[{items}]::int[]"


def _rebuild_sql(*, where: str) -> str:
    """INSERT ... SELECT of the rollups of the calls matching `where`. The calls are grouped by key and
    bucket first (a few thousand rows), and only those groups are pivoted into arrays."""
    call_table, rollup_table = Call._meta.db_table, CallRollup._meta.db_table
    keys = ", ".join(KEY)
    status_counts = ", ".join(
        f"count(*) FILTER (WHERE status = '{status}')::int AS {column}" for status, column in STATUS_COLUMNS.items()
    )
    metric_values = ", ".join(f"({n}, '{metric}')" for n, _column, metric in TURN_METRICS)
    turn_hists = ", ".join(
        f"{_pivot(len(LATENCY_LOWER), f'metric = {n}')} AS {column}" for n, column, _metric in TURN_METRICS
    )
    joined_talk = " AND ".join(f"p.{name} IS NOT DISTINCT FROM h.{name}" for name in KEY)
    joined_turns = " AND ".join(f"p.{name} IS NOT DISTINCT FROM q.{name}" for name in KEY)
    latency_zeros = f"array_fill(0, ARRAY[{len(LATENCY_LOWER)}])"
    talk_zeros = f"array_fill(0, ARRAY[{len(TALK_LOWER)}])"
    insert_columns = [*KEY, "code", *COUNT_COLUMNS, "talk_seconds", "cost_usd", *HIST_COLUMNS]
    select_turns = ", ".join(f"COALESCE(q.{column}, {latency_zeros})" for _n, column, _metric in TURN_METRICS)
    return f"""
        WITH base AS NOT MATERIALIZED (
            SELECT tenant_id, (created_at AT TIME ZONE 'UTC')::date AS day, agent_id, campaign_code, direction,
                   status, answered_at IS NOT NULL AS answered, COALESCE(duration_seconds, 0) AS talk,
                   COALESCE(estimated_cost_usd, 0) AS cost, turn_metrics
            FROM {call_table} WHERE status = ANY(%(terminal)s) {where}
        ), per_call AS (
            SELECT {keys}, count(*)::int AS calls, {status_counts},
                   count(*) FILTER (WHERE answered)::int AS answered, sum(talk) AS talk_seconds, sum(cost) AS cost_usd
            FROM base GROUP BY {keys}
        ), talk_counts AS (
            SELECT {keys}, width_bucket(talk, %(talk)s::float8[]) AS b, count(*) AS n
            FROM base WHERE answered GROUP BY {keys}, b
        ), talk AS (
            SELECT {keys}, {_pivot(len(TALK_LOWER))} AS talk_hist FROM talk_counts GROUP BY {keys}
        ), turn_counts AS (
            SELECT {keys}, m.metric,
                   width_bucket(CASE WHEN jsonb_typeof(t -> m.key) = 'number' THEN (t ->> m.key)::float8 END,
                                %(latency)s::float8[]) AS b,
                   count(*) AS n
            FROM base
            CROSS JOIN LATERAL jsonb_array_elements(
                CASE WHEN jsonb_typeof(turn_metrics) = 'array' THEN turn_metrics ELSE '[]'::jsonb END
            ) AS t
            CROSS JOIN (VALUES {metric_values}) AS m(metric, key)
            WHERE jsonb_typeof(t) = 'object'
            GROUP BY {keys}, m.metric, b
        ), turns AS (
            SELECT {keys}, {turn_hists} FROM turn_counts GROUP BY {keys}
        )
        INSERT INTO {rollup_table} ({", ".join(insert_columns)})
        SELECT {", ".join(f"p.{name}" for name in KEY)}, gen_random_uuid(),
               {", ".join(f"p.{name}" for name in COUNT_COLUMNS)}, p.talk_seconds, p.cost_usd,
               COALESCE(h.talk_hist, {talk_zeros}), {select_turns}
        FROM per_call p
        LEFT JOIN talk h ON {joined_talk}
        LEFT JOIN turns q ON {joined_turns}
        RETURNING calls
    """  # noqa: S608


def analytics_rebuild(*, tenant: Tenant | None = None, since: datetime.date | None = None) -> RebuildResult:
    """The rollups of `tenant` (every tenant when None) for the days from `since` (all when None),
    recomputed from the calls in one transaction; call ends meanwhile wait for it and then add to
    the rebuilt rows, so nothing is lost or counted twice."""
    terminal = sorted(TERMINAL_STATUSES)
    params: dict[str, object] = {"terminal": terminal, "talk": list(map(float, TALK_LOWER))}
    params["latency"] = list(map(float, LATENCY_LOWER))
    call_where, rollup_where = "", ""
    if tenant is not None:
        call_where += " AND tenant_id = %(tenant)s"
        rollup_where += " AND tenant_id = %(tenant)s"
        params["tenant"] = tenant.pk
    if since is not None:
        call_where += " AND created_at >= %(since_at)s"
        rollup_where += " AND day >= %(since)s"
        params["since"] = since
        params["since_at"] = datetime.datetime.combine(since, datetime.time(), tzinfo=datetime.UTC)
    call_table, rollup_table = Call._meta.db_table, CallRollup._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # 1. The markers first, before the rollups are locked: an UPDATE here waits for a call's own end
        # to commit (which needs the rollups), so taking the rollups' lock first could deadlock with it.
        # Only rows whose marker is wrong (calls written around the services, e.g. bulk inserts) change.
        is_terminal = "(status = ANY(%(terminal)s))"
        cursor.execute(
            f"UPDATE {call_table} SET is_rolled_up = {is_terminal} "  # noqa: S608  (no input in it)
            f"WHERE is_rolled_up IS DISTINCT FROM {is_terminal} {call_where}",
            params,
        )
        # 2. No call end writes a rollup until this commits; the rows are then replaced from the calls
        # as committed now, and an end that was waiting adds its difference to them afterwards.
        cursor.execute(f"LOCK TABLE {rollup_table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {rollup_table} WHERE TRUE {rollup_where}", params)  # noqa: S608
        cursor.execute(_rebuild_sql(where=call_where), params)
        counts = [row[0] for row in cursor.fetchall()]
    result = RebuildResult(rows=len(counts), calls=sum(counts))
    scope = f"tenant {tenant.pk}" if tenant is not None else "every tenant"
    logger.info("analytics rebuilt: %d rollup rows, %d calls (%s, since %s)", result.rows, result.calls, scope, since)
    return result
