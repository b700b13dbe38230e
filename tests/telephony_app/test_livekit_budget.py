"""A web request calling LiveKit keeps to WEB_REQUEST_BUDGET_SECONDS, whatever it is set to (issue 12, item 2)."""

from __future__ import annotations

import time

from voiceplatform.services import credential_set


def test_a_slow_livekit_fails_a_test_session_within_the_request_budget(
    livekit, settings, tenant, make_agent, api_client_for
):
    settings.WEB_REQUEST_BUDGET_SECONDS = 2  # below livekit_client's own 5 s request timeout
    livekit.delay_seconds = 6
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    agent = make_agent(tenant, stt_provider="openai")

    began = time.monotonic()
    response = api_client_for(tenant).post(f"/api/v1/agents/{agent.code}/test-session")

    assert time.monotonic() - began < 2.5
    assert response.status_code == 502
    assert "did not answer" in response.json()["detail"]
