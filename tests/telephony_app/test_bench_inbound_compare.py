"""manage.py bench_inbound_compare, run for real: two processes answering signed webhooks side by side."""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from telephony_app.models import Call, PhoneNumber
from voiceplatform.models import ProviderCredential, Tenant
from voiceplatform.webhooks.models import WebhookDelivery

LAST_LINE = re.compile(r"bench_inbound_compare this_ms=(\d+\.\d{3}) other_ms=(\d+\.\d{3}) ratio_median=(\d+\.\d{3})")


@pytest.mark.django_db(transaction=True)  # the two processes must see the seeded rows
def test_a_checkout_against_itself_connects_every_webhook_and_cleans_up():
    out = io.StringIO()

    call_command(
        "bench_inbound_compare", "--other", str(settings.BASE_DIR), "--rounds", "2", "--per-round", "5", stdout=out
    )

    lines = out.getvalue().strip().splitlines()
    match = LAST_LINE.fullmatch(lines[-1])
    assert match, out.getvalue()
    this_ms, other_ms, ratio = (float(value) for value in match.groups())
    assert this_ms > 0 and other_ms > 0 and ratio > 0
    assert [line.split(":")[0] for line in lines[:-1]] == ["round 1", "round 2"]
    # Any webhook that was not connected (no <Sip> in its TwiML) stops its process, and the command with it.
    assert not Tenant.objects.filter(slug__startswith="bench-compare-").exists()
    counts = (Call.objects.count(), PhoneNumber.objects.count(), ProviderCredential.objects.count())
    assert counts == (0, 0, 0)
    assert not WebhookDelivery.objects.exists()


def test_a_directory_that_is_no_checkout_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="not a voiceplatform checkout"):
        call_command("bench_inbound_compare", "--other", str(tmp_path))
