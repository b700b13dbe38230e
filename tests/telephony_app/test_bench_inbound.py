"""manage.py bench_inbound_webhook, run for real (gunicorn, fake LiveKit, signed webhooks) at a tiny rate."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from telephony_app.models import Call, PhoneNumber
from voiceplatform.models import ProviderCredential, Tenant

LAST_LINE = re.compile(r"bench_inbound_webhook rps=(\d+\.\d) p50_ms=(\d+\.\d) p99_ms=(\d+\.\d) errors=(\d+)")


@pytest.mark.django_db(transaction=True)  # gunicorn's workers must see the seeded rows
def test_a_short_run_answers_every_webhook_and_cleans_up():
    out = io.StringIO()

    call_command("bench_inbound_webhook", "--rps", "5", "--seconds", "1", stdout=out)

    last = out.getvalue().strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(last)
    assert match, last
    rps, p50, p99, errors = match.groups()
    assert errors == "0", out.getvalue()
    assert 0 < float(p50) <= float(p99)
    assert float(rps) > 0
    assert "sent=5 calls_written=15 livekit_rooms=15" in out.getvalue()  # 10 warm-up + 5 measured
    assert not Tenant.objects.filter(slug__startswith="bench-inbound-").exists()
    assert (Call.objects.count(), PhoneNumber.objects.count(), ProviderCredential.objects.count()) == (0, 0, 0)


def test_nonsense_options_are_refused(db):
    with pytest.raises(CommandError, match="--rps"):
        call_command("bench_inbound_webhook", "--rps", "0")
