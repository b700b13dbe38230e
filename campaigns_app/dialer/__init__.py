"""The outbound dialer: Celery beat's pacing tick claims due, eligible contacts (tick), each claim
becomes one outbound call (place), the call's end writes its outcome exactly once (outcome), and a
reaper returns claims whose call never started (outcome.reap_expired_leases).

- zones: a number's dialing zone ("<region>|<zone>,..."), the legal windows and which zones are open.
- eligibility: the checks made again right before dialing (window, DNC, consent, dates, attempts).
- capacity: how many calls the voice workers, tenants and agents can still take.
- tick: the pacing tick (advisory lock, budgets, token buckets, round-robin claim in SQL).
- place: place_call (idempotent): Call row, LiveKit room with the agent dispatched, SIP participant.
- outcome: attempt_finish (exactly once), the contact's next state, the lease reaper.
"""
