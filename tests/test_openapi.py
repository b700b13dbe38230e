"""The published OpenAPI schema stays valid and lists every API endpoint."""

import yaml
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from voiceplatform.api_base import E164_PATTERN


def test_schema_is_valid_without_warnings_and_lists_the_api(tmp_path, db):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert {
        "/api/v1/",
        "/api/v1/agents",
        "/api/v1/agents/{id}",
        "/api/v1/agents/{id}/runtime-config",
        "/api/v1/agents/{id}/prompt-history",
        "/api/v1/agents/{id}/duplicate",
        "/api/v1/provider-credentials",
        "/api/v1/provider-credentials/{id}",
        "/api/v1/campaigns",
        "/api/v1/campaigns/{id}",
        "/api/v1/campaigns/{id}/start",
        "/api/v1/campaigns/{id}/pause",
        "/api/v1/campaigns/{id}/resume",
        "/api/v1/campaigns/{id}/cancel",
        "/api/v1/campaigns/{id}/contacts",
        "/api/v1/campaigns/{id}/imports",
        "/api/v1/campaigns/{id}/imports/{importId}",
        "/api/v1/campaigns/{id}/imports/{importId}/errors.csv",
        "/api/v1/campaigns/{id}/audit.csv",
        "/api/v1/dnc",
        "/api/v1/dnc/{number}",
        "/api/v1/dnc/{number}/remove",
        "/api/v1/dnc/upload",
        "/api/v1/consents",
        "/api/v1/consents/{number}",
        "/api/v1/consents/{number}/revoke",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "vp_<prefix>_<secret>",
        "description": "A tenant API key from the portal (Settings → API keys) or `manage.py create_api_key`.",
    }


def test_every_operation_documents_the_error_responses_with_their_bodies(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    error = {"$ref": "#/components/schemas/Error"}

    assert schema["components"]["schemas"]["Error"]["properties"].keys() == {"detail", "problems"}
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) > 20
    for path, method, operation in operations:
        responses = operation["responses"]
        for code in ("401", "403", "404", "429"):
            assert responses[code]["content"]["application/json"]["schema"] == error, (path, method, code)
        assert error in responses["400"]["content"]["application/json"]["schema"]["anyOf"], (path, method)
        assert "Retry-After" in responses["429"]["headers"], (path, method)
        if "requestBody" in operation:
            assert responses["413"]["content"]["application/json"]["schema"] == error, (path, method)


def test_phone_number_fields_carry_the_e164_pattern(db):
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]

    assert schemas["PhoneNumberRequest"]["properties"]["number"]["pattern"] == E164_PATTERN
    assert schemas["HandleCallRequest"]["properties"]["from"]["pattern"] == E164_PATTERN
    assert schemas["HandleCallRequest"]["properties"]["to"]["pattern"] == E164_PATTERN
    transfer = schemas["AgentMetadataRequest"]["properties"]["transferNumber"]
    assert transfer["nullable"] is True
    assert {"type": "string", "maxLength": 0} in transfer["oneOf"]  # blank clears the number
    assert E164_PATTERN in [option.get("pattern") for option in transfer["oneOf"]]


def test_schema_and_docs_pages_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # assets come from the sidecar wheel, offline
