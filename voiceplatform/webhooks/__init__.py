"""Signed webhooks to tenants' systems (Standard Webhooks), for every app: see docs/webhooks.md.

Emit an event with `webhook_emit(tenant=..., event="call.ended", data={...})` inside the transaction
that makes the change; add an event type with one `register_event` line in events.py.
"""
