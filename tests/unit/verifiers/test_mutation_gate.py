"""The mutation gate's rule for log-text-only mutants excuses exactly those, and its allowlist keys are stable."""

from __future__ import annotations

import pytest

from tools.mutation_gate import ALLOWLIST, Mutant, is_log_text_only, load_allowlist

ORIGINAL = '''def verify(header):
    if not header:
        raise Rejected(Reason.MISSING_SIGNATURE, f"no {NAME} header")
    if header == "x":
        raise ValueError(f"bad {header!r}")
    return first_matching_secret(secrets, matches)
'''


def mutant(mutated: str, name: str = "webhook_gateway.verifiers.github.x_verify__mutmut_7") -> Mutant:
    return Mutant(name, "survived", ORIGINAL, mutated)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('f"no {NAME} header")', "None)"),
        ('f"no {NAME} header")', ")"),
        ('f"no {NAME} header")', '"XXno headerXX")'),
        ('f"bad {header!r}")', "None)"),
    ],
)
def test_changes_to_a_rejection_detail_or_an_exception_message_are_log_text(old, new):
    assert is_log_text_only(mutant(ORIGINAL.replace(old, new, 1)))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Reason.MISSING_SIGNATURE, ", ""),  # the detail becomes the reason
        ("Reason.MISSING_SIGNATURE", "None"),
        ("if not header", "if header"),
        ('raise ValueError(f"bad {header!r}")', 'raise KeyError(f"bad {header!r}")'),
        ("return first_matching_secret(secrets, matches)", "return None"),
    ],
)
def test_any_other_change_is_not_log_text(old, new):
    assert not is_log_text_only(mutant(ORIGINAL.replace(old, new, 1)))


def test_identical_source_is_not_excused_by_the_rule():
    assert not is_log_text_only(mutant(ORIGINAL))


def test_allowlist_key_is_the_function_and_changed_lines_not_mutmuts_number():
    first = mutant(ORIGINAL.replace("if not header", "if header"))
    renumbered = mutant(ORIGINAL.replace("if not header", "if header"), name=first.name.replace("_7", "_9"))
    assert first.function == renumbered.function == "webhook_gateway.verifiers.github.verify"
    assert first.mutation == renumbered.mutation == "- if not header:\n+ if header:"
    assert Mutant("webhook_gateway.verifiers.base.xǁRejectedǁ__init____mutmut_1", "survived", "", "").function == (
        "webhook_gateway.verifiers.base.Rejected.__init__"
    )


def test_allowlist_entries_need_a_reason(tmp_path):
    path = tmp_path / "allow.toml"
    path.write_text('[[equivalent]]\nfunction = "f"\nmutation = "- a\\n+ b"\nreason = " "\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="reason"):
        load_allowlist(path)


def test_reviewed_allowlist_loads_and_every_entry_says_why():
    entries = load_allowlist(ALLOWLIST)
    assert entries
    assert all(len(entry["reason"]) > 20 for entry in entries.values())
