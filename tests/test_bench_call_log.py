"""bench_call_log runs end to end on a small scale and prints its figures last (docs/benchmarks.md)."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from telephony_app.models import Call
from voiceplatform.models import Tenant

LAST_LINE = re.compile(
    r"^bench_call_log calls=300 list_p50_ms=[\d.]+ deep_page_p50_ms=[\d.]+ dashboard_p50_ms=[\d.]+ "
    r"search_p50_ms=[\d.]+$"
)


@pytest.mark.django_db(transaction=True)  # VACUUM ANALYZE cannot run inside the test's transaction
def test_bench_call_log_prints_its_figures_last_and_cleans_up():
    out = io.StringIO()

    call_command("bench_call_log", calls=300, runs=2, stdout=out)

    lines = out.getvalue().strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert "deep page after 250 calls; 1 calls mention 'quokka'" in lines, lines  # 300 calls: the last page
    assert not Tenant.objects.exists() and not Call.objects.exists()
    assert not get_user_model().objects.exists()


def test_nonsense_options_are_refused(db):
    with pytest.raises(CommandError, match="--calls"):
        call_command("bench_call_log", calls=0)
