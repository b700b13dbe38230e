"""Reads of the call log; every lookup takes the tenant explicitly."""

from __future__ import annotations

import datetime
import json
import uuid
import zoneinfo

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import QuerySet

from agents_app.models import Agent
from telephony_app.models import SEARCH_CONFIG, Call, PhoneNumber
from voiceplatform.cursor import CursorPage, cursor_page
from voiceplatform.models import Tenant
from voiceplatform.selectors import get_or_404

# The list leaves the large JSON columns in the database.
LIST_DEFERRED_FIELDS = ("transcript", "turn_metrics", "usage", "context")


# Filter dates are clamped to these (same result: no call lies outside them), so 0001-01-01 or
# 9999-12-31 cannot overflow datetime when shifted by a day or a time zone (that was a 500).
_FIRST_DAY, _LAST_DAY = datetime.date(1900, 1, 1), datetime.date(9998, 12, 31)


def _day_start(tenant: Tenant, day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the tenant's time zone: "calls of the 3rd" means its 3rd."""
    day = min(max(day, _FIRST_DAY), _LAST_DAY)
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zoneinfo.ZoneInfo(tenant.timezone))


# The call log's keyset order: newest first, the id breaking ties (Call.Meta.indexes end with both).
CALL_PAGE_KEYS = ("created_at", "id")


def call_list(
    *,
    tenant: Tenant,
    agent: Agent | None = None,
    direction: str = "",
    status: str = "",
    end_reason: str = "",
    from_number: str = "",
    to_number: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    query: str = "",
) -> QuerySet[Call]:
    """The tenant's calls, newest first; dates are whole days (both ends included) in the tenant's zone;
    numbers and the end reason match exactly; `query` is a web-style full-text search of the transcripts
    ("refund policy", "refund -cancel", a quoted phrase)."""
    queryset = Call.objects.for_tenant(tenant).select_related("agent").defer(*LIST_DEFERRED_FIELDS)
    if agent is not None:
        queryset = queryset.filter(agent=agent)
    if direction:
        queryset = queryset.filter(direction=direction)
    if status:
        queryset = queryset.filter(status=status)
    if end_reason:
        queryset = queryset.filter(end_reason=end_reason)
    if from_number:
        queryset = queryset.filter(from_number=from_number)
    if to_number:
        queryset = queryset.filter(to_number=to_number)
    if date_from is not None:
        queryset = queryset.filter(created_at__gte=_day_start(tenant, date_from))
    if date_to is not None:
        queryset = queryset.filter(
            created_at__lt=_day_start(tenant, min(date_to, _LAST_DAY) + datetime.timedelta(days=1))
        )
    if query:
        queryset = _search(queryset, query)
    return queryset.order_by("-created_at", "-id")


# A search matching at most this many calls is served from the GIN index's list of matches.
SEARCH_PROBE = 1000


def _search(calls: QuerySet[Call], query: str) -> QuerySet[Call]:
    """`calls` whose transcript matches `query`, in a form PostgreSQL reads fast whatever the word.

    A page of matches newest first has two plans, and the planner's guess between them is often wrong
    (it cannot know how rare a word missing from its statistics is): walk the newest calls in order until
    a page matched (fast for a common word, every row of the tenant for a rare one: 3 s at a million
    calls), or take every match from the GIN index and sort them (fast for a rare word, every match for
    a common one). So ask the GIN index first, bitmap plans only, for up to SEARCH_PROBE + 1 matches:
    fewer than that, and the page reads only those rows (by primary key); more, and the word is common
    enough for the ordered walk."""
    matching = calls.filter(search=SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch"))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
        try:
            ids = list(matching.order_by().values_list("pk", flat=True)[: SEARCH_PROBE + 1])
        finally:  # inside a caller's transaction SET LOCAL would outlive this block: put them back
            cursor.execute("SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_indexscan TO DEFAULT")
    if len(ids) <= SEARCH_PROBE:
        return calls.filter(pk__in=ids)
    return matching


def call_page(calls: QuerySet[Call], *, cursor: str, size: int) -> CursorPage:
    """One keyset page of `calls` (from call_list), newest first; raises cursor.BadCursor for a cursor
    this platform did not write. Calls that arrive while someone pages sort before the first page, so
    they never shift the pages being read: every older call is seen exactly once."""
    return cursor_page(calls, cursor=cursor, keys=CALL_PAGE_KEYS, descending=True, size=size)


def call_count_estimate(calls: QuerySet[Call]) -> int:
    """PostgreSQL's estimate of how many rows `calls` has (the planner's row estimate: no row is read),
    for "about N calls"; counting a million calls exactly on every page view would cost ~100 ms."""
    plan = json.loads(calls.order_by().explain(format="json"))
    return max(int(plan[0]["Plan"]["Plan Rows"]), 0)


def call_get(*, tenant: Tenant, code: uuid.UUID | str) -> Call:
    """The tenant's call with that code; the same 404 for 'not yours' and 'does not exist'."""
    return get_or_404(Call.objects.for_tenant(tenant).select_related("agent"), code)


# What a job reads of its Call (the services re-read the row under a lock to write it): the
# call's identity and state, its whole tenant, its agent's code. Listing only these keeps the
# statement small: the full three-table select is ~3 KB of SQL, and on a job process's connection
# that has been idle since the process was prepared, a first statement that size was measured to
# take 6-9 ms longer to reach PostgreSQL than a small one (manage.py bench_call_start).
JOB_CALL_FIELDS = ("id", "code", "status", "direction", "tenant", "agent__id", "agent__code")


def call_for_job(*, tenant_code: uuid.UUID | str, call_code: uuid.UUID | str) -> Call | None:
    """The call a voice-worker job names, with its tenant and agent, in one query.

    Scoped by the join on the tenant's code (the job's metadata names both, and the platform wrote
    them): a call of another tenant is None, exactly like a call that does not exist."""
    return (
        Call.objects.across_tenants(reason="a voice-worker job: the filter names the tenant by its code")
        .select_related("tenant", "agent")
        .only(*JOB_CALL_FIELDS)
        .filter(tenant__code=tenant_code, code=call_code)
        .first()
    )


def phone_number_list(*, tenant: Tenant) -> QuerySet[PhoneNumber]:
    """The tenant's phone numbers with their assigned agents, ordered by number."""
    return PhoneNumber.objects.for_tenant(tenant).select_related("agent").order_by("number", "id")


def phone_number_get(*, tenant: Tenant, code: uuid.UUID | str) -> PhoneNumber:
    """The tenant's phone number with that code; the same 404 for 'not yours' and 'does not exist'."""
    return get_or_404(phone_number_list(tenant=tenant), code)
