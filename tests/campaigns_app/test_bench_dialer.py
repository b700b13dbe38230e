"""bench_dialer runs end to end on a small scale and prints its figures last (docs/benchmarks.md)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from campaigns_app.models import Campaign
from voiceplatform.models import Tenant

LAST_LINE = re.compile(
    r"^bench_dialer contacts=300 workers=2 claims_per_s=\d+ duplicates=0 lost=0 campaigns=20 tick_p99_ms=[\d.]+$"
)


@pytest.mark.django_db(transaction=True)  # the benchmark forks processes that must see its rows
def test_bench_dialer_prints_its_figures_last_and_cleans_up():
    out = io.StringIO()

    call_command("bench_dialer", contacts=300, workers=2, campaigns=20, place=20, ticks=3, stdout=out)

    lines = out.getvalue().strip().splitlines()
    assert LAST_LINE.match(lines[-1]), lines[-1]
    assert any(line.startswith("placing: 20 attempts") and "0 dialed twice, 0 never dialed" in line for line in lines)
    assert not Tenant.objects.exists() and not Campaign.objects.exists()
