"""The admission function (migration 0011) reads the indexes, whatever size the tables had when a
session first ran it.

PL/pgSQL keeps a function's plans for the session, and after five calls it keeps a generic one. A
web worker whose database session first admitted calls while the call table was empty or freshly
vacuumed kept a sequential scan of the whole table for its count: at the empty table's size that is
the cheaper plan, and it stayed chosen while the table grew. Each admission then read every call
with the agent's row locked, so one agent's calls queued behind ever longer scans (on the inbound
benchmark's fresh tables, the PostgreSQL CPU per webhook and the p99 climbed through each run, to
seconds). With sequential scans off inside the function, its count reads call_agent_open_phone_idx
(only the open phone calls) and the lock goes through an index of the agent table at any size.
tests/telephony_app/test_inbound_capacity.py checks the plan on an empty, analyzed table that then grows.
"""

from django.db import migrations

SIGNATURE = "telephony_inbound_admission(bigint, bigint, integer)"


class Migration(migrations.Migration):
    dependencies = [("telephony_app", "0011_inbound_admission")]

    operations = [
        migrations.RunSQL(
            f"ALTER FUNCTION {SIGNATURE} SET enable_seqscan = off",
            reverse_sql=f"ALTER FUNCTION {SIGNATURE} RESET enable_seqscan",
        )
    ]
