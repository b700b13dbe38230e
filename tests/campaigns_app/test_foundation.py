"""The foundation's promises that every other part builds on: ledgers never change, statuses move only
along the allowed transitions, and the ledger selectors name the deciding row."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from campaigns_app import selectors, services
from campaigns_app.models import CampaignStatus, DncEntry, LedgerImmutable
from voiceplatform.actor import SYSTEM
from voiceplatform.services import tenant_delete


def test_a_dnc_row_cannot_be_changed_or_deleted_even_in_sql(tenant):
    entry = services.dnc_add(tenant=tenant, number="+14155550123", actor=SYSTEM).entry

    with pytest.raises(LedgerImmutable):
        entry.delete()
    entry.reason = "edited"
    with pytest.raises(LedgerImmutable):
        entry.save()
    with pytest.raises(LedgerImmutable):
        DncEntry.objects.for_tenant(tenant).update(reason="edited")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM campaigns_app_dncentry")
    assert DncEntry.objects.for_tenant(tenant).get().reason == ""


def test_removing_a_number_writes_a_row_and_the_selector_names_the_deciding_one(tenant, other_tenant):
    added = services.dnc_add(tenant=tenant, number="+1 415 555 0123", actor=SYSTEM).entry
    assert selectors.dnc_entry_deciding(tenant=tenant, number="+14155550123") == added
    assert selectors.dnc_entry_deciding(tenant=other_tenant, number="+14155550123") is None

    services.dnc_remove(tenant=tenant, number="+14155550123", reason="asked to be called", actor=SYSTEM)

    assert selectors.dnc_entry_deciding(tenant=tenant, number="+14155550123") is None
    assert selectors.dnc_history(tenant=tenant, number="+14155550123").count() == 2


def test_deleting_a_tenant_removes_its_ledgers(tenant):
    services.dnc_add(tenant=tenant, number="+14155550123", actor=SYSTEM)

    tenant_delete(tenant=tenant)

    assert not DncEntry.objects.across_tenants(reason="test: the tenant is gone").exists()


def test_a_draft_cannot_be_paused_and_a_cancelled_campaign_cannot_restart(tenant, campaign):
    with pytest.raises(services.CampaignStateConflict, match="Only a running or scheduled"):
        services.campaign_pause(tenant=tenant, campaign=campaign)

    services.campaign_cancel(tenant=tenant, campaign=campaign)

    with pytest.raises(services.CampaignStateConflict):
        services.campaign_start(tenant=tenant, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED
