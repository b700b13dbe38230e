"""The agent form's live prompt counter in real Chromium (issue 12, item 11): it counts as you type,
follows the chosen model, marks a text over its cap, and stops a submit the server could not read
while keeping every typed character; the CSP refuses nothing."""

from __future__ import annotations

from django.urls import reverse
from playwright.sync_api import Page, expect

from agents_app.models import Agent


def _csp_refusals(page: Page) -> list[str]:
    refusals: list[str] = []
    page.on("console", lambda m: refusals.append(m.text) if "Content Security Policy" in m.text else None)
    return refusals


def test_counter_counts_characters_and_tokens_and_follows_the_model(tenant, owner, open_page):
    page = open_page(owner, reverse("agents-agent-create"))
    refusals = _csp_refusals(page)

    page.fill("#id_system_prompt", "a" * 400)

    expect(page.locator("#counter-system_prompt")).to_have_text("400 / 32,000 characters · about 100 tokens")
    expect(page.locator("#counter-total")).to_contain_text("Together about 100 of the 32,000 tokens GPT-4o mini")

    page.fill("#id_system_prompt", "a" * 32_001)
    expect(page.locator("#counter-system_prompt")).to_contain_text("1 over the limit")
    expect(page.locator("#counter-system_prompt")).to_have_class("counter over")
    assert refusals == []


def test_a_form_the_server_could_not_read_is_not_sent_and_nothing_is_lost(tenant, owner, open_page, orm, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20_000
    page = open_page(owner, reverse("agents-agent-create"))
    typed = "x" * 25_000
    page.fill("#id_name", "Front desk")
    page.fill("#id_system_prompt", typed)

    page.click("form.agent-form button[type=submit]")

    expect(page.locator("#form-too-large")).to_contain_text("Not sent")
    assert page.input_value("#id_system_prompt") == typed
    assert orm(lambda: Agent.objects.count()) == 0
