"""Hostile input never gives a 500: every API route from the OpenAPI schema, sent a table of hostile
inputs with a real API key of a tenant that owns real objects, answers 4xx with the API's JSON error
shape and writes nothing; plus the webhooks, the portal, the admin and the SIP route."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from twilio.request_validator import RequestValidator

from agents_app.models import Agent, Holiday, PromptVersion
from agents_app.services import agent_create
from campaigns_app.models import CallAttempt, Campaign, Consent, Contact, ContactImport, DncEntry
from campaigns_app.services import campaign_create
from telephony_app.models import Call, CallDirection, PhoneNumber
from telephony_app.services import call_create, phone_number_create
from tests.factories import UserFactory
from tests.telephony_app.test_livekit_webhook import event_body, sign
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_livekit import KEY, SECRET
from voiceplatform.hostile_input import MAX_JSON_DEPTH
from voiceplatform.models import ApiKey, ProviderCredential, Tenant
from voiceplatform.services import api_key_create, credential_set
from voiceplatform.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voiceplatform.webhooks.services import delivery_send_test, endpoint_create
from worker import sip_route

NUL = "\x00"
TWILIO_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TWILIO_ACCOUNT = "AC" + "1" * 32
NUMBER = "+14155550123"
TABLES = (
    Agent,
    PromptVersion,
    Holiday,
    Call,
    PhoneNumber,
    ProviderCredential,
    ApiKey,
    Campaign,
    Contact,
    ContactImport,
    DncEntry,
    Consent,
    CallAttempt,
    WebhookEndpoint,
    WebhookDelivery,
    WebhookAttempt,
)


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # the schema's path, e.g. /api/v1/agents/{id}
    spec: dict[str, Any]

    @property
    def has_body(self) -> bool:
        return "requestBody" in self.spec

    @property
    def query_parameters(self) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == "query"]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.template}"


def _operations() -> list[Operation]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    methods = ("get", "post", "put", "patch", "delete")
    return [
        Operation(method, template, spec)
        for template, item in schema["paths"].items()
        for method, spec in item.items()
        if method in methods
    ]


def _call(tenant: Tenant, **fields: Any) -> Call:
    return call_create(
        tenant=tenant, direction=CallDirection.INBOUND, from_number="+12125550100", to_number=NUMBER, **fields
    )


@pytest.fixture
def owned(tenant: Tenant) -> dict[str, str]:
    """A real object of each kind in the tenant, so every detail route exists: {path segment: id}."""
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "system_prompt": "Be helpful."})
    number = phone_number_create(tenant=tenant, number=NUMBER, agent=agent, label="Main line")
    call = _call(tenant, agent=agent)
    credential = credential_set(tenant=tenant, provider="twilio", secret=TWILIO_TOKEN, account_id=TWILIO_ACCOUNT)
    campaign = campaign_create(tenant=tenant, fields={"name": "Reminders", "agent": agent, "caller_id": number})
    endpoint, _secret = endpoint_create(tenant=tenant, url="https://93.184.216.34/hooks", event_types=["call.ended"])
    delivery = delivery_send_test(tenant=tenant, endpoint=endpoint)  # queued on a commit that never comes
    return {
        "webhook-endpoints": str(endpoint.code),
        "webhook-deliveries": str(delivery.code),
        "agents": str(agent.code),
        "campaigns": str(campaign.code),
        "calls": str(call.code),
        "phone-numbers": str(number.code),
        "provider-credentials": str(credential.code),
    }


@pytest.fixture
def raw_api(tenant: Tenant) -> Client:
    """Django's plain test Client with a Bearer key (not conftest's `api`, DRF's APIClient): it sends
    the bytes and content types given, unencoded."""
    _key, raw_key = api_key_create(tenant=tenant, name="hostile")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def _path(operation: Operation, owned: dict[str, str], *, object_id: str | None = None) -> str:
    resource = operation.template.split("/")[3]
    return operation.template.replace("{id}", object_id or owned.get(resource, ""))


def _row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def _error_shape_problem(response: Any) -> str | None:
    """What is wrong with an error response (None if it is a 4xx in the API's JSON error shape)."""
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    if response.status_code < 400:
        return None
    if not response.get("Content-Type", "").startswith("application/json"):
        return f"{response.status_code} is not JSON: {response.get('Content-Type')}"
    body = response.json()
    if not isinstance(body, dict) or not body:
        return f"{response.status_code} body is not an object: {body!r}"
    if "detail" in body:
        if not isinstance(body["detail"], str) or not isinstance(body.get("problems"), list):
            return f"{response.status_code} body is not {{detail, problems}}: {body!r}"
    elif response.status_code != 400:  # only a 400 may carry field errors instead
        return f"{response.status_code} body has no detail: {body!r}"
    return None


def _send_table(
    client: Client, cases: Iterator[tuple[str, str, dict[str, Any]]], expect: Callable[[Any], str | None]
) -> list[str]:
    """Sends each (label, path, request kwargs) case; returns one line per case that misbehaved."""
    failures = []
    for label, path, kwargs in cases:
        response = client.generic(path=path, **kwargs)
        problem = _error_shape_problem(response) or expect(response)
        if problem:
            failures.append(f"{label}: {problem}")
    return failures


def _json(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


HOSTILE_BODIES: dict[str, tuple[bytes, str, int]] = {
    # label: (body, content type, expected status)
    "JSON nested 5,000 deep (RecursionError)": (b"[" * 5000 + b"]" * 5000, "application/json", 400),
    f"JSON objects nested {MAX_JSON_DEPTH + 10} deep": (
        _json('{"name": ' + '{"a": ' * (MAX_JSON_DEPTH + 10) + "1" + "}" * (MAX_JSON_DEPTH + 11)),
        "application/json",
        400,
    ),
    "NUL in strings": (
        _json(json.dumps({"name": f"A{NUL}B", "metadata": {"ivrMenu": {"prompt": NUL}}, "agentId": NUL})),
        "application/json",
        400,
    ),
    "NUL in a key": (_json(json.dumps({f"na{NUL}me": "x"})), "application/json", 400),
    "lone surrogate": (b'{"name": "\\ud800", "number": "\\udfff", "action": "start"}', "application/json", 400),
    "body over the upload limit": (
        b'{"name": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}',
        "application/json",
        413,
    ),
    "wrong content type": (b"name=Hijacked", "text/plain", 415),
    "form content type": (b"name=Hijacked", "application/x-www-form-urlencoded", 415),
}


def _expect_status(status: int) -> Callable[[Any], str | None]:
    def check(response: Any) -> str | None:
        return None if response.status_code == status else f"{response.status_code}, expected {status}"

    return check


@pytest.mark.parametrize("label", list(HOSTILE_BODIES))
def test_every_route_with_a_body_refuses_hostile_bodies_and_writes_nothing(label, raw_api, owned):
    body, content_type, status = HOSTILE_BODIES[label]
    before = _row_counts()
    cases = (
        (
            f"{operation}",
            _path(operation, owned),
            {"method": operation.method, "data": body, "content_type": content_type},
        )
        for operation in _operations()
        if operation.has_body
    )

    failures = _send_table(raw_api, cases, _expect_status(status))

    assert not failures, "\n".join(failures)
    assert _row_counts() == before


def test_every_route_refuses_a_nul_in_the_query_string_and_writes_nothing(raw_api, owned):
    before = _row_counts()
    cases = (
        (f"{operation}", _path(operation, owned) + "?search=%00&x%00=1", {"method": operation.method})
        for operation in _operations()
    )

    def names_the_parameter(response: Any) -> str | None:
        if response.status_code != 400:
            return f"{response.status_code}, expected 400"
        problems = response.json()["problems"]
        return None if any("'search'" in p and "NUL" in p for p in problems) else f"search not named: {problems}"

    failures = _send_table(raw_api, cases, names_the_parameter)

    assert not failures, "\n".join(failures)
    assert _row_counts() == before


def test_every_detail_route_answers_json_404_to_a_malformed_id(raw_api, owned):
    before = _row_counts()
    cases = (
        (f"{operation} {bad!r}", _path(operation, owned, object_id=bad), {"method": operation.method})
        for operation in _operations()
        if "{id}" in operation.template
        for bad in ("not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%00")
    )

    def not_found(response: Any) -> str | None:
        expected = 400 if "\x00" in response.wsgi_request.path else 404  # a NUL anywhere is refused first
        return None if response.status_code == expected else f"{response.status_code}, expected {expected}"

    failures = _send_table(raw_api, cases, not_found)

    assert not failures, "\n".join(failures)
    assert _row_counts() == before


def test_every_update_refuses_an_empty_body(raw_api, owned):
    before = _row_counts()
    cases = (
        (f"{operation} {body!r}", _path(operation, owned), {"method": operation.method, "data": body, **kind})
        for operation in _operations()
        if operation.method in ("put", "patch")
        for body, kind in (
            (b"", {}),
            (b"", {"content_type": "application/json"}),
            (b"{}", {"content_type": "application/json"}),
        )
    )

    def names_the_body(response: Any) -> str | None:
        if response.status_code != 400:
            return f"{response.status_code}, expected 400"
        problems = response.json().get("problems", [])
        return None if any(p.startswith("body:") for p in problems) else f"body not named: {response.json()}"

    failures = _send_table(raw_api, cases, names_the_body)

    assert not failures, "\n".join(failures)
    assert _row_counts() == before


# A value no typed query parameter (integer, boolean, enum, date, UUID) accepts.
GARBAGE = "zz-garbage-¿"


def test_every_typed_query_parameter_refuses_garbage_naming_it(raw_api, owned):
    cases = []
    for operation in _operations():
        for parameter in operation.query_parameters:
            schema = parameter.get("schema", {})
            if schema.get("type") == "string" and not ({"enum", "format"} & set(schema)):
                continue  # free text (search): anything goes
            url = f"{_path(operation, owned)}?{parameter['name']}={GARBAGE}"
            cases.append((f"{operation} ?{parameter['name']}=", url, {"method": operation.method}, parameter["name"]))
    assert {case[3] for case in cases} >= {"page", "isActive", "direction", "status", "agent", "from", "to"}

    failures = []
    for label, url, kwargs, name in cases:
        response = raw_api.generic(path=url, **kwargs)
        problem = _error_shape_problem(response)
        if not problem and (response.status_code != 400 or name not in response.json()):
            problem = f"{response.status_code}, expected 400 naming {name}: {response.content[:200]!r}"
        if problem:
            failures.append(f"{label}: {problem}")

    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "\uff11", "99999999999999"])
def test_a_garbage_page_is_a_400_naming_page(raw_api, owned, page):
    response = raw_api.get("/api/v1/agents", {"page": page})

    assert response.status_code == 400
    assert list(response.json()) == ["page"]


def test_a_page_past_the_end_is_a_json_404(raw_api, owned):
    response = raw_api.get("/api/v1/agents", {"page": "7"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page.", "problems": []}


# The cases the issue names one by one ---------------------------------------------------------


def test_agent_search_with_a_nul_is_a_400_naming_search(raw_api, owned):
    response = raw_api.get("/api/v1/agents?search=%00")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The request contains characters or nesting this API does not accept.",
        "problems": ["query parameter 'search': contains a NUL character (\\u0000), which is not allowed."],
    }


@pytest.mark.parametrize(
    ("metadata", "where"),
    [
        ({"ivrMenu": {"prompt": f"Press 1{NUL}", "options": []}}, "body.metadata.ivrMenu.prompt"),
        ({"holidays": [{"date": "2026-12-25", "name": f"Christmas{NUL}"}]}, "body.metadata.holidays[0].name"),
    ],
)
def test_a_nul_in_agent_metadata_is_a_400_naming_the_field(raw_api, owned, metadata, where):
    before = _row_counts()
    for method, path in (("post", "/api/v1/agents"), ("patch", f"/api/v1/agents/{owned['agents']}")):
        response = raw_api.generic(
            method, path, json.dumps({"name": "Night desk", "metadata": metadata}), "application/json"
        )

        assert response.status_code == 400, response.content
        assert response.json()["problems"] == [f"{where}: contains a NUL character (\\u0000), which is not allowed."]
    assert _row_counts() == before


def test_a_lone_surrogate_in_an_agent_is_a_400(raw_api, owned):
    response = raw_api.post("/api/v1/agents", b'{"name": "Desk \\ud83d"}', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["problems"] == ["body.name: contains a lone surrogate (\\ud83d), which is not valid text."]
    assert not Agent.objects.filter(name__startswith="Desk").exists()


def test_a_surrogate_pair_is_a_character_like_any_other(raw_api, owned):
    response = raw_api.post("/api/v1/agents", b'{"name": "Desk \\ud83d\\ude00"}', content_type="application/json")

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Desk \U0001f600"


def test_json_just_within_the_depth_limit_is_parsed(raw_api, owned):
    nested: Any = "deep"
    for _ in range(MAX_JSON_DEPTH - 4):
        nested = {"a": nested}
    body = json.dumps({"metadata": {"ivrMenu": {"prompt": "Hi", "options": [], "extra": nested}}})

    response = raw_api.patch(f"/api/v1/agents/{owned['agents']}", body, content_type="application/json")

    assert response.status_code in (200, 400), response.content  # the IVR validation decides, not the parser
    assert "nested deeper" not in response.text


def test_a_body_over_the_limit_is_a_json_413(raw_api, owned):
    body = json.dumps({"name": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})

    response = raw_api.post("/api/v1/agents", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is too large."


def test_a_malformed_api_path_is_json_not_the_portals_page(raw_api, owned):
    response = raw_api.get("/api/v1/agents/not-a-uuid")

    assert response.status_code == 404
    assert response.json() == {
        "detail": "Not found.",
        "problems": ["path: no API resource at '/api/v1/agents/not-a-uuid'."],
    }


def test_the_portal_keeps_its_html_404(client_for, owner):
    response = client_for(owner).get("/agents/not-a-uuid")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# Webhooks ----------------------------------------------------------------------------------


def _twilio_post(client: Client, path: str, params: dict[str, str]) -> Any:
    url = settings.PUBLIC_BASE_URL.rstrip("/") + path
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.mark.parametrize("field", ["CallSid", "From"])
def test_twilio_voice_webhook_signed_with_a_nul_is_a_400_and_writes_no_call(client, owned, field):
    params = {
        "AccountSid": TWILIO_ACCOUNT,
        "CallSid": "CA" + "0" * 32,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+12125550100",
        "To": NUMBER,
    }
    params[field] = params[field][:5] + NUL + params[field][5:]
    calls_before = Call.objects.count()

    response = _twilio_post(client, "/api/v1/telephony/twilio/voice", params)

    assert response.status_code == 400
    assert response.json()["problems"] == [
        f"form field {field!r}: contains a NUL character (\\u0000), which is not allowed."
    ]
    assert Call.objects.count() == calls_before


def test_twilio_status_webhook_with_a_nul_is_a_400(client, owned):
    params = {"AccountSid": TWILIO_ACCOUNT, "CallSid": f"CA{NUL}", "CallStatus": "completed", "To": NUMBER}

    response = _twilio_post(client, "/api/v1/telephony/twilio/status", params)

    assert response.status_code == 400
    assert "form field 'CallSid'" in response.json()["problems"][0]


@pytest.fixture
def livekit_keys(settings) -> None:
    settings.LIVEKIT_URL = "http://127.0.0.1:9"  # verification needs only the key and secret
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET


@pytest.mark.parametrize("content_type", ["application/webhook+json", "text/plain"])
def test_livekit_webhook_with_a_nul_in_the_room_name_is_a_400_and_changes_nothing(
    client, tenant, livekit_keys, content_type
):
    call = _call(tenant, room_name="in-hostile")
    body = event_body("room_finished", room=f"in-hostile{NUL}")
    assert "\\u0000" in body

    response = client.post(
        "/api/v1/telephony/livekit/webhook", body, content_type=content_type, HTTP_AUTHORIZATION=sign(body)
    )

    assert response.status_code == 400
    assert response.json()["problems"] == ["body.room.name: contains a NUL character (\\u0000), which is not allowed."]
    call.refresh_from_db()
    assert call.ended_at is None


def test_livekit_webhook_nested_too_deep_is_a_400(client, livekit_keys):
    body = '{"event": "room_finished", "room": ' * 3000 + "{}" + "}" * 3000

    response = client.post(
        "/api/v1/telephony/livekit/webhook", body, content_type="text/plain", HTTP_AUTHORIZATION=sign(body)
    )

    assert response.status_code == 400
    assert "nested deeper" in response.json()["problems"][0]


def test_sip_route_with_a_nul_in_the_callers_number_is_refused_and_writes_nothing(owned):
    caller = sip_route.SipCaller.from_attributes(
        "sip_caller", {sip_route.ATTR_DIALED_NUMBER: NUMBER, sip_route.ATTR_CALLER_NUMBER: f"+1212{NUL}5550100"}
    )
    calls_before = Call.objects.count()

    with pytest.raises(sip_route.SipRouteRefused, match="caller_number: contains a NUL"):
        sip_route.sip_call_route(caller=caller, room_name="sip-room", job_id="AJ_1")

    assert Call.objects.count() == calls_before


# The portal and the admin ------------------------------------------------------------------


def test_portal_search_with_a_nul_is_a_plain_400(client_for, owner):
    response = client_for(owner).get("/agents/?search=%00")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "query parameter 'search': contains a NUL character" in response.text


def test_portal_form_with_a_nul_is_a_400_and_writes_nothing(client_for, owner):
    response = client_for(owner).post("/agents/new", {"name": f"Night{NUL}desk", "system_prompt": "Hi"})

    assert response.status_code == 400
    assert not Agent.objects.filter(name__startswith="Night").exists()


def test_admin_autocomplete_with_a_nul_term_is_a_400(client, db):
    client.force_login(UserFactory(username="root@ops.test", is_staff=True, is_superuser=True))

    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "voiceplatform", "model_name": "membership", "field_name": "tenant", "term": NUL},
    )

    assert response.status_code == 400
    assert "query parameter 'term'" in response.text


def test_a_session_cookie_with_a_nul_is_a_400_not_a_database_error(client, db):
    client.cookies[settings.SESSION_COOKIE_NAME] = f"abcdefgh{NUL}"

    response = client.get("/accounts/login/")

    assert response.status_code == 400


def test_problems_name_every_bad_string_once(raw_api, owned):
    body = {"name": NUL, "metadata": {"holidays": [{"name": "\x00"}, {"name": "ok"}], "ivrMenu": {"prompt": NUL}}}

    response = raw_api.post("/api/v1/agents", json.dumps(body), content_type="application/json")

    problems = response.json()["problems"]
    assert [re.sub(r":.*", "", p) for p in problems] == [
        "body.metadata.holidays[0].name",
        "body.metadata.ivrMenu.prompt",
        "body.name",
    ]


@pytest.mark.parametrize("query", ["from=0001-01-01&to=9999-12-31", "to=0001-01-01", "from=9999-12-31"])
def test_call_list_dates_at_the_ends_of_the_calendar_are_not_a_server_error(raw_api, client_for, owner, owned, query):
    """They overflowed datetime when shifted by a day or the tenant's time zone (a 500)."""
    everything = query.startswith("from=0001")

    response = raw_api.get(f"/api/v1/calls?{query}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == (1 if everything else 0)
    portal = client_for(owner).get("/calls/?" + query.replace("from=", "date_from=").replace("to=", "date_to="))
    assert portal.status_code == 200


def test_an_unexpected_api_failure_is_a_json_500(raw_api, owned, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("agents_app.api.AgentViewSet.list", broken)
    raw_api.raise_request_exception = False

    response = raw_api.get("/api/v1/agents")

    assert response.status_code == 500
    assert response.json() == {"detail": "Server error.", "problems": []}


def test_too_many_query_parameters_is_a_json_400(raw_api, owned):
    query = "&".join(f"p{index}=1" for index in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))

    response = raw_api.get(f"/api/v1/agents?{query}")

    assert response.status_code == 400
    assert response.json()["detail"] == "Bad request."
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.json()["problems"][0]
