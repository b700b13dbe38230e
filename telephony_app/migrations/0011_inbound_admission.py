"""The inbound webhook's admission check as one function call (telephony_app.inbound._admit).

The agent's row lock and the count of its open phone calls were two statements, parsed and planned
for every call (~0.16 ms of the database's CPU per inbound webhook, the count's plan weighing the
call table's 15 indexes). Inside a PL/pgSQL function their plans are kept for the session. The
function is VOLATILE, so its count takes a snapshot of its own after the lock (READ COMMITTED): a
call committed by a request that held the lock first is counted. The status and direction lists
are those of call_agent_open_phone_idx (ACTIVE_STATUSES, PHONE_DIRECTIONS), which the count reads;
tests/telephony_app/test_inbound_capacity.py holds the function to them.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION telephony_inbound_admission(agent bigint, tenant bigint, cap integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM agents_app_agent WHERE id = agent AND tenant_id = tenant FOR NO KEY UPDATE;
    RETURN (
        SELECT count(*) FROM (
            SELECT 1 FROM telephony_app_call
            WHERE agent_id = agent AND tenant_id = tenant
              AND status IN ('in_progress', 'queued', 'ringing') AND direction IN ('inbound', 'outbound')
            LIMIT cap
        ) AS open_calls
    );
END
$$
"""


class Migration(migrations.Migration):
    dependencies = [("telephony_app", "0010_call_search")]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION telephony_inbound_admission(bigint, bigint, integer)")
    ]
