"""The do-not-call and consent ledgers: every change is a new row, the selectors name the deciding row
(a set of numbers in one query), each tenant's ledger is its own, and no row is ever updated or deleted."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns_app import selectors, services
from campaigns_app.models import Consent, ConsentAction, DncAction, DncEntry, LedgerImmutable
from voiceplatform.actor import SYSTEM

NUMBER = "+14155550123"


# DNC -----------------------------------------------------------------------------------------


def test_adding_a_number_twice_writes_one_row(tenant):
    first = services.dnc_add(tenant=tenant, number="+1 (415) 555-0123", actor=SYSTEM)
    second = services.dnc_add(tenant=tenant, number=NUMBER, reason="again", actor=SYSTEM)

    assert first.created and not second.created
    assert second.entry == first.entry
    assert DncEntry.objects.for_tenant(tenant).count() == 1


def test_dnc_add_refuses_a_bad_number_or_source_naming_the_field(tenant):
    with pytest.raises(ValidationError) as bad_number:
        services.dnc_add(tenant=tenant, number="12", actor=SYSTEM)
    with pytest.raises(ValidationError) as bad_source:
        services.dnc_add(tenant=tenant, number=NUMBER, source="fax", actor=SYSTEM)

    assert "number" in bad_number.value.message_dict
    assert "Unknown source 'fax'" in bad_source.value.message_dict["source"][0]
    assert not DncEntry.objects.exists()


def test_an_opt_out_call_must_be_the_tenants_own(tenant, other_tenant):
    from telephony_app.services import call_create

    theirs = call_create(tenant=other_tenant, direction="outbound", to_number=NUMBER)

    with pytest.raises(ValidationError) as refused:
        services.dnc_add(tenant=tenant, number=NUMBER, source="in_call_opt_out", call=theirs, actor=SYSTEM)

    assert refused.value.message_dict == {"call": ["No such call."]}
    assert not DncEntry.objects.exists()


def test_removing_a_number_not_listed_is_an_error(tenant):
    with pytest.raises(ValidationError) as refused:
        services.dnc_remove(tenant=tenant, number=NUMBER, reason="asked for calls", actor=SYSTEM)

    assert refused.value.message_dict == {"number": [f"{NUMBER} is not on the do-not-call list."]}
    assert not DncEntry.objects.exists()


def test_removing_needs_a_reason(tenant):
    services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)

    with pytest.raises(ValidationError) as refused:
        services.dnc_remove(tenant=tenant, number=NUMBER, reason=" ", actor=SYSTEM)

    assert "reason" in refused.value.message_dict
    assert selectors.dnc_entry_deciding(tenant=tenant, number=NUMBER) is not None


def test_a_removal_is_a_new_row_and_a_re_add_blocks_again(tenant):
    services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)
    removal = services.dnc_remove(tenant=tenant, number=NUMBER, reason="asked for calls", actor=SYSTEM)
    after_removal = selectors.dnc_blocked(tenant=tenant, numbers=[NUMBER])
    again = services.dnc_add(tenant=tenant, number=NUMBER, reason="asked again", actor=SYSTEM)

    assert removal.action == DncAction.REMOVE
    assert after_removal == {}
    assert again.created
    assert selectors.dnc_entry_deciding(tenant=tenant, number=NUMBER) == again.entry
    assert selectors.dnc_blocked(tenant=tenant, numbers=[NUMBER]) == {NUMBER: again.entry}
    assert [row.action for row in selectors.dnc_history(tenant=tenant, number=NUMBER)] == ["add", "remove", "add"]


def test_dnc_blocked_answers_a_set_in_one_query_with_the_deciding_rows(tenant, django_assert_num_queries):
    numbers = [f"+1415555{n:04d}" for n in range(10, 20)]
    kept = services.dnc_add(tenant=tenant, number=numbers[0], actor=SYSTEM).entry
    services.dnc_add(tenant=tenant, number=numbers[1], actor=SYSTEM)
    services.dnc_remove(tenant=tenant, number=numbers[1], reason="ok", actor=SYSTEM)
    services.dnc_add(tenant=tenant, number=numbers[2], actor=SYSTEM)
    services.dnc_remove(tenant=tenant, number=numbers[2], reason="ok", actor=SYSTEM)
    readded = services.dnc_add(tenant=tenant, number=numbers[2], actor=SYSTEM).entry

    with django_assert_num_queries(1):
        blocked = selectors.dnc_blocked(tenant=tenant, numbers=numbers)

    assert blocked == {numbers[0]: kept, numbers[2]: readded}


def test_dnc_add_many_writes_only_new_numbers(tenant):
    services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)

    written = services.dnc_add_many(tenant=tenant, numbers=[NUMBER, "+14155550124", "+14155550124"], actor=SYSTEM)

    assert written == 1
    assert DncEntry.objects.for_tenant(tenant).count() == 2


def test_each_tenants_dnc_list_is_its_own(tenant, other_tenant):
    services.dnc_add(tenant=other_tenant, number=NUMBER, actor=SYSTEM)

    assert selectors.dnc_blocked(tenant=tenant, numbers=[NUMBER]) == {}
    assert selectors.dnc_entry_deciding(tenant=tenant, number=NUMBER) is None
    with pytest.raises(ValidationError):
        services.dnc_remove(tenant=tenant, number=NUMBER, reason="not mine", actor=SYSTEM)
    assert services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM).created


# Consent -------------------------------------------------------------------------------------


def test_a_grant_needs_evidence(tenant):
    with pytest.raises(ValidationError) as refused:
        services.consent_grant(tenant=tenant, number=NUMBER, evidence="  ", actor=SYSTEM)

    assert "evidence" in refused.value.message_dict
    assert not Consent.objects.exists()


def test_a_grant_cannot_be_in_the_future(tenant):
    with pytest.raises(ValidationError) as refused:
        services.consent_grant(
            tenant=tenant,
            number=NUMBER,
            evidence="form",
            actor=SYSTEM,
            granted_at=timezone.now() + datetime.timedelta(days=1),
        )

    assert "granted_at" in refused.value.message_dict


def test_revoking_when_there_is_no_consent_is_an_error(tenant):
    with pytest.raises(ValidationError) as refused:
        services.consent_revoke(tenant=tenant, number=NUMBER, actor=SYSTEM)

    assert refused.value.message_dict == {"number": [f"{NUMBER} has no consent to revoke."]}


def test_a_revocation_is_a_new_row_and_a_new_grant_consents_again(tenant):
    grant = services.consent_grant(tenant=tenant, number=NUMBER, evidence="web form 7", actor=SYSTEM)
    revocation = services.consent_revoke(tenant=tenant, number=NUMBER, actor=SYSTEM, evidence="said stop")
    revoked_now = selectors.consent_deciding(tenant=tenant, number=NUMBER)
    again = services.consent_grant(tenant=tenant, number=NUMBER, evidence="web form 9", actor=SYSTEM)

    assert grant.action == ConsentAction.GRANT and revocation.action == ConsentAction.REVOKE
    assert revocation.revoked_at is not None and revocation.granted_at is None
    assert revoked_now is None
    assert selectors.consent_deciding(tenant=tenant, number=NUMBER) == again
    with pytest.raises(ValidationError):
        services.consent_revoke(tenant=tenant, number="+14155550999", actor=SYSTEM)
    assert selectors.consent_history(tenant=tenant, number=NUMBER).count() == 3


def test_consents_granted_answers_a_set_in_one_query_with_the_deciding_grants(tenant, django_assert_num_queries):
    numbers = [f"+1415555{n:04d}" for n in range(30, 40)]
    kept = services.consent_grant(tenant=tenant, number=numbers[0], evidence="a", actor=SYSTEM)
    services.consent_grant(tenant=tenant, number=numbers[1], evidence="b", actor=SYSTEM)
    services.consent_revoke(tenant=tenant, number=numbers[1], actor=SYSTEM)
    services.consent_grant(tenant=tenant, number=numbers[2], evidence="c", actor=SYSTEM)
    newer = services.consent_grant(tenant=tenant, number=numbers[2], evidence="c2", actor=SYSTEM)

    with django_assert_num_queries(1):
        granted = selectors.consents_granted(tenant=tenant, numbers=numbers)

    assert granted == {numbers[0]: kept, numbers[2]: newer}


def test_each_tenants_consent_ledger_is_its_own(tenant, other_tenant):
    services.consent_grant(tenant=other_tenant, number=NUMBER, evidence="theirs", actor=SYSTEM)

    assert selectors.consents_granted(tenant=tenant, numbers=[NUMBER]) == {}
    with pytest.raises(ValidationError):
        services.consent_revoke(tenant=tenant, number=NUMBER, actor=SYSTEM)


def test_empty_sets_ask_nothing(tenant, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert selectors.dnc_blocked(tenant=tenant, numbers=[]) == {}
        assert selectors.consents_granted(tenant=tenant, numbers=[]) == {}


# Append-only, three times over ----------------------------------------------------------------


@pytest.fixture
def rows(tenant) -> dict[str, DncEntry | Consent]:
    return {
        "campaigns_app_dncentry": services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM).entry,
        "campaigns_app_consent": services.consent_grant(tenant=tenant, number=NUMBER, evidence="form", actor=SYSTEM),
    }


@pytest.mark.parametrize("table", ["campaigns_app_dncentry", "campaigns_app_consent"])
def test_a_ledger_row_cannot_be_updated_or_deleted_by_model_queryset_or_sql(tenant, rows, table):
    row = rows[table]
    Model = type(row)
    row.actor = "edited"

    with pytest.raises(LedgerImmutable):
        row.save()
    with pytest.raises(LedgerImmutable):
        row.delete()
    with pytest.raises(LedgerImmutable):
        Model.objects.for_tenant(tenant).update(actor="edited")
    with pytest.raises(LedgerImmutable):
        Model.objects.for_tenant(tenant).delete()
    with pytest.raises(LedgerImmutable):
        Model.objects.for_tenant(tenant).bulk_update([row], ["actor"])
    # The table name comes from the parametrize list above, never from input.
    for sql in (f"UPDATE {table} SET actor = 'edited'", f"DELETE FROM {table}"):  # noqa: S608
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)

    assert Model.objects.for_tenant(tenant).get().actor == SYSTEM.label
