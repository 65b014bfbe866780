"""``base.json_array_parts``: the byte slices a batch provider (``Provider.split``, HubSpot) hands the receiver, one
per event, each exactly the bytes the provider sent for that element, whatever the whitespace and encoding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_gateway.verifiers.base import Reason, Rejected, json_array_parts

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
whitespace = st.text(alphabet=" \t\n\r", max_size=3)


@settings(max_examples=200, deadline=None)
@given(
    elements=st.lists(objects, min_size=1, max_size=6),
    gaps=st.lists(whitespace, min_size=14, max_size=14),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 2, "\t"]),
)
def test_each_part_is_exactly_the_bytes_of_its_element(elements, gaps, ensure_ascii, indent):
    """Given any array of objects, written with any JSON whitespace around and between its elements and inside
    them, with non-ASCII raw or escaped, when it is split, then the parts are the elements' own bytes in order:
    the body is rebuilt from them and the whitespace between them, and each parses to its element."""
    texts = [json.dumps(element, ensure_ascii=ensure_ascii, indent=indent).encode() for element in elements]
    body = gaps[0].encode() + b"[" + gaps[1].encode()
    for index, text in enumerate(texts):
        separator = b"" if index == 0 else gaps[2 + index % 6].encode() + b"," + gaps[8 + index % 6].encode()
        body += separator + text
    body += gaps[7].encode() + b"]" + gaps[13].encode()
    parts = json_array_parts(body)
    assert list(parts) == texts
    assert [json.loads(part) for part in parts] == elements


def test_whitespace_escapes_and_non_ascii_are_kept_byte_for_byte():
    body = '\r\n [ {"name": "Zoë",\n  "esc": "\\u00e9\\"]}"} ,\t{ "k" :[1, {"x": "]"}] } ]\n'.encode()
    assert json_array_parts(body) == (
        '{"name": "Zoë",\n  "esc": "\\u00e9\\"]}"}'.encode(),
        b'{ "k" :[1, {"x": "]"}] }',
    )


def test_a_single_event_array_is_one_part():
    assert json_array_parts(b'[{"a":1}]') == (b'{"a":1}',)
    assert json_array_parts(b"[{}]") == (b"{}",)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\xff[{}]", "body is not UTF-8"),
        (b'[{"a":"\xc3"}]', "body is not UTF-8"),
        (b"", "body is not a JSON array"),
        (b"   ", "body is not a JSON array"),
        (b"{}", "body is not a JSON array"),
        (b'\xef\xbb\xbf[{"a":1}]', "body is not a JSON array"),  # a UTF-8 BOM: not JSON
        (b"\x0b[{}]", "body is not a JSON array"),  # vertical tab: not JSON whitespace
        (b"[]", "body is an empty JSON array"),
        (b"[ \n\t\r]", "body is an empty JSON array"),
        (b"[]\n", "body is an empty JSON array"),
        (b" [ ] ", "body is an empty JSON array"),
        (b"[1]", "element 0 is not a JSON object"),
        (b'[{}, "x"]', "element 1 is not a JSON object"),
        (b"[{}, [{}]]", "element 1 is not a JSON object"),
        (b"[{}, null]", "element 1 is not a JSON object"),
        (b"[{]", "element 0 is not JSON (JSONDecodeError)"),
        (b"[{},]", "element 1 is not JSON (JSONDecodeError)"),
        (b"[,{}]", "element 0 is not JSON (JSONDecodeError)"),
        (b"[{}", "expected , or ] after element 0"),
        (b"[{} {}]", "expected , or ] after element 0"),
        (b"[{},{};{}]", "expected , or ] after element 1"),
        (b"[{}]]", "data after the JSON array"),
        (b"[{}] x", "data after the JSON array"),
        (b"[{}][{}]", "data after the JSON array"),
        (b'[{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}]", "element 0 is not JSON (RecursionError)"),
    ],
)
def test_a_body_that_is_not_a_non_empty_array_of_objects_is_unparseable(body, detail):
    with pytest.raises(Rejected) as refused:
        json_array_parts(body)
    assert refused.value.reason is Reason.UNPARSEABLE_PAYLOAD
    assert refused.value.detail == detail


def test_trailing_json_whitespace_after_the_array_is_fine():
    assert json_array_parts(b'[{"a":1}] \t\r\n') == (b'{"a":1}',)
