"""The published OpenAPI schema stays valid and lists every API endpoint."""

import yaml
from django.core.management import call_command


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
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "vp_<prefix>_<secret>",
        "description": "A tenant API key from the portal (Settings → API keys) or `manage.py create_api_key`.",
    }


def test_schema_and_docs_pages_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn.jsdelivr" not in docs.content  # assets come from the sidecar wheel, offline
