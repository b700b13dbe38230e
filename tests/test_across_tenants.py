"""Every query of a tenant-owned model in app code is scoped (`.for_tenant(tenant)`) or says, through
`.across_tenants(reason="...")`, why reading every tenant's rows is safe there (STYLE.md, Tenancy).

The scan parses the app packages and follows each `Model.objects` of a TenantOwned model through its
chain of calls. `grep -rn "across_tenants(" --include=*.py .` lists the deliberate cross-tenant
reads; test_the_cross_tenant_reads_are_listed_with_their_reasons prints them with their reasons."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps

from agents_app.models import Agent
from agents_app.services import agent_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import TenantOwned

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("voiceplatform", "agents_app", "telephony_app", "campaigns_app", "worker")
# Not app code: schema history, and the dev tools (benchmarks and fakes, never in a request path).
EXEMPT_DIRS = ("migrations", "voiceplatform/devtools")
SCOPES = {"for_tenant", "across_tenants"}
# Writes that name their rows' tenant themselves (a new row's `tenant=`), or that read nothing.
UNSCOPED_WRITES = {"create", "bulk_create", "none"}
TENANT_KEYWORD_WRITES = {"get_or_create", "update_or_create"}  # allowed with tenant= given
# Named cross-tenant queryset methods; each is built on across_tenants (checked below).
NAMED_CROSS_TENANT = {"by_signed_link"}
MANAGERS = {"objects", "_default_manager", "_base_manager"}


@dataclass(frozen=True)
class Query:
    where: str
    model: str
    chain: tuple[str, ...]
    tenant_keyword: bool


def _tenant_owned_names() -> set[str]:
    return {model.__name__ for model in apps.get_models() if issubclass(model, TenantOwned)}


def _app_files() -> list[Path]:
    files = []
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not any(part in relative.split("/") or relative.startswith(part + "/") for part in EXEMPT_DIRS):
                files.append(path)
    return files


def _queries(path: Path, models: set[str], root: Path = ROOT) -> list[Query]:
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Attribute)
            and node.attr in MANAGERS
            and isinstance(node.value, ast.Name)
            and node.value.id in models
        ):
            continue
        chain: list[str] = []
        tenant_keyword = False
        current: ast.AST = node
        while isinstance(parent := parents.get(current), ast.Attribute | ast.Call):
            if isinstance(parent, ast.Call):
                if parent.func is not current:
                    break  # the manager is an argument, not the receiver
                if len(chain) == 1:
                    tenant_keyword = any(keyword.arg == "tenant" for keyword in parent.keywords)
            else:
                chain.append(parent.attr)
            current = parent
        relative = path.relative_to(root).as_posix()
        found.append(Query(f"{relative}:{node.lineno}", node.value.id, tuple(chain), tenant_keyword))
    return sorted(found, key=lambda query: int(query.where.rsplit(":", 1)[1]))


def _is_scoped(query: Query) -> bool:
    if SCOPES & set(query.chain) or NAMED_CROSS_TENANT & set(query.chain):
        return True
    first = query.chain[0] if query.chain else ""
    return first in UNSCOPED_WRITES or (first in TENANT_KEYWORD_WRITES and query.tenant_keyword)


def _all_queries() -> list[Query]:
    models = _tenant_owned_names()
    return [query for path in _app_files() for query in _queries(path, models)]


def test_the_scan_sees_the_tenant_owned_models_and_their_queries():
    models = _tenant_owned_names()
    assert {"Agent", "Call", "PhoneNumber", "ProviderCredential", "ApiKey", "Membership"} <= models
    queries = _all_queries()
    assert len(queries) > 50  # a scan that finds nothing proves nothing
    assert any(query.chain[:1] == ("for_tenant",) for query in queries)


def test_every_query_of_a_tenant_owned_model_is_scoped_or_says_why_not():
    unscoped = [f"{q.where}: {q.model}.objects.{'.'.join(q.chain)}" for q in _all_queries() if not _is_scoped(q)]

    assert unscoped == [], (
        "Query tenant-owned rows with .for_tenant(tenant), or, for a deliberate cross-tenant read, "
        '.across_tenants(reason="why it is safe"):\n' + "\n".join(unscoped)
    )


def _cross_tenant_reads() -> list[tuple[str, str | None]]:
    reads = []
    for path in _app_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr != "across_tenants":
                    continue
                values = [keyword.value for keyword in node.keywords if keyword.arg == "reason"] + node.args
                reason = values[0].value if values and isinstance(values[0], ast.Constant) else None
                reads.append((f"{path.relative_to(ROOT).as_posix()}:{node.lineno}", reason))
    return reads


def test_the_cross_tenant_reads_are_listed_with_their_reasons(capsys):
    reads = _cross_tenant_reads()

    with capsys.disabled():
        print("\nDeliberate cross-tenant reads:")
        for where, reason in reads:
            print(f"  {where}: {reason}")
    assert [where for where, reason in reads if not (isinstance(reason, str) and reason.strip())] == []
    files = {where.split(":")[0] for where, _ in reads}
    # the webhooks, the worker, the config loader and the API-key lookup, at least
    assert {
        "telephony_app/number_cache.py",
        "telephony_app/twilio.py",
        "telephony_app/livekit_sync.py",
        "telephony_app/selectors.py",
        "worker/sip_route.py",
        "agents_app/runtime_config.py",
        "voiceplatform/selectors.py",
    } <= files


def test_named_cross_tenant_methods_are_built_on_across_tenants():
    source = ast.parse((ROOT / "voiceplatform" / "models.py").read_text())
    methods = {
        node.name: node
        for node in ast.walk(source)
        if isinstance(node, ast.FunctionDef) and node.name in NAMED_CROSS_TENANT
    }
    assert set(methods) == NAMED_CROSS_TENANT
    for method in methods.values():
        calls = [n for n in ast.walk(method) if isinstance(n, ast.Attribute) and n.attr == "across_tenants"]
        assert calls, f"{method.name} must read across tenants through across_tenants(reason=...)"


def test_the_scan_flags_an_unscoped_query(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(code, tenant):\n"
        "    Agent.objects.filter(code=code).first()\n"
        "    Agent.objects.for_tenant(tenant).filter(code=code).first()\n"
        "    Agent.objects.across_tenants(reason='test').filter(code=code)\n"
        "    Agent.objects.create(tenant=tenant)\n"
        "    Agent.objects.get_or_create(code=code)\n"
    )
    queries = _queries(bad, {"Agent"}, root=tmp_path)

    assert [_is_scoped(query) for query in queries] == [False, True, True, True, False]


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_across_tenants_refuses_a_missing_reason(reason):
    with pytest.raises(ValueError, match="needs a reason"):
        Agent.objects.across_tenants(reason=reason)


def test_across_tenants_reads_every_tenants_rows(tenant, other_tenant):
    mine = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Mine"})
    theirs = agent_create(tenant=other_tenant, actor=SYSTEM, fields={"name": "Theirs"})

    everyone = Agent.objects.across_tenants(reason="a test of the method itself")

    assert set(everyone.values_list("pk", flat=True)) == {mine.pk, theirs.pk}
    assert list(Agent.objects.for_tenant(tenant)) == [mine]
