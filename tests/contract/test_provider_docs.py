"""Every provider of the registry has its page in docs/providers/, linked from the index: the template's secret
descriptions point operators there (docs/providers/<Kind>.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook_gateway.verifiers import registered_providers

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers"
PROVIDERS = [provider.name for provider in registered_providers()]


@pytest.mark.parametrize("name", PROVIDERS)
def test_each_provider_has_its_page_linked_from_the_index(name: str) -> None:
    page = DOCS / f"{name}.md"
    assert page.is_file(), f"docs/providers/{name}.md is missing"
    assert f"]({name}.md)" in (DOCS / "README.md").read_text(encoding="utf-8")
    # The page names the module it documents, so a reader finds the code
    assert f"verifiers/{name}.py" in page.read_text(encoding="utf-8") or f"`{name}`" in page.read_text(encoding="utf-8")


def test_the_index_lists_no_page_that_is_not_there() -> None:
    pages = {path.stem for path in DOCS.glob("*.md")} - {"README"}
    assert pages == set(PROVIDERS)


def test_the_event_bus_rules_in_docs_consumer_are_generated_from_the_registry() -> None:
    """Given docs/consumer.md's sample EventBridge rules, then the block is exactly what tools/event_rules.py derives
    from the registry (one rule per provider, none by hand), and each provider's source is in it."""
    from tools import event_rules

    text = event_rules.DOC.read_text(encoding="utf-8")
    assert event_rules.rewrite(text) == text, "run: .venv/bin/python -m tools.event_rules"
    for name in PROVIDERS:
        assert f'"webhook-gateway.{name}"' in text, name
