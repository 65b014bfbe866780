"""SECURITY.md and docs/reliability.md point at the tests that prove each defence and each fix: every test file and
test function they name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`(tests/[\w/{},.]+\.py)?(::\w+)?`")


def expand(path: str) -> list[str]:
    """``tests/unit/verifiers/test_{github,stripe,twilio}.py`` -> the three paths."""
    match = re.search(r"\{([^}]*)\}", path)
    if not match:
        return [path]
    return [path[: match.start()] + option + path[match.end() :] for option in match[1].split(",")]


@pytest.mark.parametrize("document", ["SECURITY.md", "docs/reliability.md"])
def test_every_test_named_in_the_document_exists(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    checked, current = 0, None
    for line in text.splitlines():
        current = None  # a bare `::name` continues the last path named on the same line (table row)
        for path, function in REFERENCE.findall(line):
            if path:
                current = path
                for each in expand(path):
                    assert (ROOT / each).is_file(), each
                    checked += 1
            if function:
                assert current, f"{function} names no file on its line"
                sources = "".join((ROOT / each).read_text(encoding="utf-8") for each in expand(current))
                assert re.search(rf"^def {function[2:]}\(", sources, re.M), f"{current}{function}"
                checked += 1
    assert checked > 20
