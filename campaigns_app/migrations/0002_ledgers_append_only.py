"""The do-not-call and consent ledgers are append-only in the database itself: UPDATE and DELETE raise,
whoever runs them (the app, the admin, a psql session), unless the transaction has set
`voiceplatform.tenant_purge = 'on'` (voiceplatform.services.tenant_delete deleting a whole tenant)."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION campaigns_ledger_append_only() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('voiceplatform.tenant_purge', true), '') = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION '% is an append-only ledger: % refused; write a new row instead', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""

TABLES = ("campaigns_app_dncentry", "campaigns_app_consent")


def _trigger(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION campaigns_ledger_append_only();"
    )


class Migration(migrations.Migration):
    dependencies = [("campaigns_app", "0001_initial")]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS campaigns_ledger_append_only();"),
        *(
            migrations.RunSQL(_trigger(table), f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            for table in TABLES
        ),
    ]
