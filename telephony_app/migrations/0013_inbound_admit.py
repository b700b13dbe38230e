"""The inbound admission as a statement that fails over the limit (telephony_app.inbound._admit).

The connect path sends its statements in one message (voiceplatform/db_batch.py): the Call, its
outbox rows and this admission commit together right after it, with no round trip back to the web
worker while the agent's row is locked. Over the limit there is no answer to look at before
COMMIT, so the function raises (SQLSTATE VP001) and the whole message rolls back. It counts with
telephony_inbound_admission (migration 0011: the lock, then the open phone calls up to the cap).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION telephony_inbound_admit(agent bigint, tenant bigint, call_limit integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    open_calls bigint;
BEGIN
    open_calls := telephony_inbound_admission(agent, tenant, call_limit + 1);
    IF open_calls > call_limit THEN
        RAISE EXCEPTION 'the agent has % open calls, its limit is %', open_calls, call_limit
            USING ERRCODE = 'VP001';
    END IF;
    RETURN open_calls;
END
$$
"""


class Migration(migrations.Migration):
    dependencies = [("telephony_app", "0012_inbound_admission_index_plan")]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION telephony_inbound_admit(bigint, bigint, integer)")
    ]
