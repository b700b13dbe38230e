"""JSON log lines carry request context and never carry secrets."""

import copy
import io
import json
import logging
import logging.config

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

API_KEY = "vp_AbCdEfGh_" + "0123456789abcdefABCDEF0123456789"
VENDOR_KEY = "sk-proj-abcdefghijklmnop0123456789"


@pytest.fixture
def json_lines():
    """The handler settings.LOGGING defines, built with the json formatter, on the root logger.

    Returns a function giving the parsed lines written so far. Built from settings.LOGGING through
    logging's own configurator so the filters tested are the ones production wires in.
    """
    config = copy.deepcopy(settings.LOGGING)
    configurator = logging.config.DictConfigurator(config)
    handler_config = config["handlers"]["default"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configurator.configure_formatter(config["formatters"]["json"]))
    for name in handler_config["filters"]:
        handler.addFilter(configurator.configure_filter(config["filters"][name]))

    root = logging.getLogger()
    app_logger = logging.getLogger("voiceplatform")
    previous_level = app_logger.level
    app_logger.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        app_logger.setLevel(previous_level)


def test_each_record_is_one_json_object_with_the_standard_fields(json_lines):
    logging.getLogger("voiceplatform.example").warning("calling %s\nsecond line", "openai")

    [line] = json_lines()
    assert line["level"] == "WARNING"
    assert line["logger"] == "voiceplatform.example"
    assert line["message"] == "calling openai\nsecond line"
    assert line["time"].endswith("+00:00")
    assert "request_id" not in line


@pytest.mark.parametrize(
    "secret",
    [
        API_KEY,
        f"Bearer {VENDOR_KEY}",
        "Bearer abcdefghijkl0123",
        VENDOR_KEY,
        "sk-ant-api03-abcdefghijklmnop",
        Fernet(Fernet.generate_key()).encrypt(b"provider secret").decode(),
    ],
    ids=["api-key", "bearer-vendor-key", "bearer-token", "vendor-key", "anthropic-key", "fernet-token"],
)
def test_secrets_in_messages_and_arguments_are_redacted(json_lines, secret):
    logger = logging.getLogger("voiceplatform.example")
    logger.warning(f"inline: {secret} end")
    logger.warning("argument: %s end", secret)
    logger.warning("mapping: %(value)s end", {"value": secret})

    lines = json_lines()
    assert [line["message"] for line in lines] == [
        "inline: [REDACTED] end",
        "argument: [REDACTED] end",
        "mapping: [REDACTED] end",
    ]
    assert secret not in json.dumps(lines)


def test_secrets_in_exception_text_are_redacted(json_lines):
    try:
        raise ValueError(f"provider refused key {VENDOR_KEY}")
    except ValueError:
        logging.getLogger("voiceplatform.example").exception("call failed")

    [line] = json_lines()
    assert line["message"] == "call failed"
    assert "ValueError: provider refused key [REDACTED]" in line["exception"]
    assert VENDOR_KEY not in json.dumps(line)


def test_lines_logged_during_a_request_carry_its_id_and_tenant(json_lines, tenant, api_client_for):
    api = api_client_for(tenant)

    response = api.post("/api/v1/provider-credentials", {"provider": "groq", "secret": VENDOR_KEY}, format="json")

    assert response.status_code == 201
    request_id = response["X-Request-ID"]
    [line] = [line for line in json_lines() if line.get("request_id")]
    assert line["request_id"] == request_id
    assert line["tenant"] == "acme"
    assert line["logger"] == "voiceplatform.services"
    assert "groq" in line["message"]


def test_a_sane_incoming_request_id_is_kept_and_a_bad_one_replaced(json_lines, db, client):
    kept = client.get("/api/v1/", HTTP_X_REQUEST_ID="lb-trace.0001")
    replaced = client.get("/api/v1/", HTTP_X_REQUEST_ID="bad id\nINJECTED")

    assert kept["X-Request-ID"] == "lb-trace.0001"
    assert replaced["X-Request-ID"] not in ("", "bad id\nINJECTED")
    ids = [line.get("request_id") for line in json_lines() if line["logger"] == "django.request"]
    assert ids == ["lb-trace.0001", replaced["X-Request-ID"]]


def test_request_ids_differ_between_requests(db, client):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health")["X-Request-ID"]

    assert first != second


# A secret shaped like none of the redaction patterns, so redaction cannot hide a leak.
PLAIN_SECRET = "plain-Secret-Value-7Q2x9Zr4mK"


def _assert_not_logged(caplog, secret: str) -> None:
    assert caplog.records, "expected the request to log something"
    for record in caplog.records:
        assert secret not in record.getMessage(), record.name
    assert secret not in caplog.text


def test_creating_a_credential_logs_no_plaintext(caplog, tenant, api_client_for):
    caplog.set_level(logging.DEBUG)
    api = api_client_for(tenant)

    response = api.post("/api/v1/provider-credentials", {"provider": "groq", "secret": PLAIN_SECRET}, format="json")

    assert response.status_code == 201
    _assert_not_logged(caplog, PLAIN_SECRET)


def test_updating_and_failing_to_save_a_credential_log_no_plaintext(caplog, tenant, api_client_for):
    caplog.set_level(logging.DEBUG)
    api = api_client_for(tenant)
    created = api.post(
        "/api/v1/provider-credentials", {"provider": "groq", "secret": "gsk-first-00000000"}, format="json"
    )
    assert created.status_code == 201

    updated = api.patch(f"/api/v1/provider-credentials/{created.json()['id']}", {"secret": PLAIN_SECRET}, format="json")
    refused = api.post("/api/v1/provider-credentials", {"provider": "twilio", "secret": PLAIN_SECRET}, format="json")

    assert (updated.status_code, refused.status_code) == (200, 400)
    _assert_not_logged(caplog, PLAIN_SECRET)
