"""hookctl deliveries: the pure parts (page tokens, tie ordering, body rendering), and paging over a fake client."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hookctl.deliveries import (
    Cursor,
    ListFilters,
    _ordered,
    binary_note,
    decode_page_token,
    decode_text,
    encode_page_token,
    list_columns,
    list_page,
    render_body,
    render_headers,
)

FILTERS = ListFilters(provider="github", status="failed", event_type="push", since="2026-01-31T10:00:00")


# -- page tokens -----------------------------------------------------------------------------------------------


def test_a_token_round_trips_its_filters_and_cursor():
    cursor = Cursor("2026-01-31T12:00:00.123Z", "github", "501234567:110c4799-fde4-5f4a-8965-fd6405c535d3")

    token = encode_page_token(FILTERS, cursor)

    assert decode_page_token(token) == (FILTERS, cursor)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # base64url, no '='


def test_a_token_is_base64url_of_json():
    token = encode_page_token(ListFilters(waiting=True, now="2026-01-31T12:00:00.000Z"), Cursor("t", "p", "d"))

    document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))

    assert document["v"] == 1 and document["c"] == ["t", "p", "d"] and document["f"]["waiting"] is True


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"v": 2, "f": {}, "c": ["a", "b", "c"]}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "f": {}, "c": ["a", "b"]}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "f": {"provider": 3}, "c": ["a", "b", "c"]}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_anything_else_is_refused_with_one_message(token):
    with pytest.raises(ValueError, match="not a token printed by"):
        decode_page_token(token)


def test_filters_match_on_selection_not_on_time_window():
    assert FILTERS.same_selection(ListFilters(provider="github", status="failed", event_type="push"))
    assert not FILTERS.same_selection(ListFilters(provider="github", status="failed"))


# -- ordering and paging ---------------------------------------------------------------------------------------


def item(provider: str, delivery_id: str, at: str, status: str = "processed") -> dict[str, Any]:
    return {"provider": provider, "delivery_id": delivery_id, "last_attempt_at": at, "status": status}


def test_ties_are_put_in_one_order_and_the_times_stay_newest_first():
    scrambled = [
        item("github", "b", "2026-01-31T12:00:02.000Z"),
        item("github", "a", "2026-01-31T12:00:01.000Z"),
        item("stripe", "z", "2026-01-31T12:00:01.000Z"),
        item("github", "c", "2026-01-31T12:00:01.000Z"),
        item("github", "d", "2026-01-31T12:00:00.000Z"),
    ]

    ordered = [(row["provider"], row["delivery_id"]) for row in _ordered(scrambled)]

    assert ordered == [("github", "b"), ("stripe", "z"), ("github", "c"), ("github", "a"), ("github", "d")]


class PagedQueries:
    """A DynamoDB client whose Query answers given pages in turn (per hash value), whatever else it is asked."""

    def __init__(self, pages: dict[str, list[list[dict[str, Any]]]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def query(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        hash_value = params["ExpressionAttributeValues"][":hash"]["S"]
        index = int(params.get("ExclusiveStartKey", {}).get("page", {}).get("N", "0"))
        pages = self.pages.get(hash_value, [[]])
        wire = [{k: {"S": v} for k, v in row.items()} for row in pages[index]]
        high = params["ExpressionAttributeValues"].get(":high", {}).get("S")
        if high is not None:  # the cursor's upper bound (inclusive), as DynamoDB's key condition applies it
            wire = [row for row in wire if row["last_attempt_at"]["S"] <= high]
        answer: dict[str, Any] = {"Items": wire}
        if index + 1 < len(pages):
            answer["LastEvaluatedKey"] = {"page": {"N": str(index + 1)}}
        return answer


def test_pages_over_a_tie_split_across_dynamodb_pages_in_any_order():
    """Given a tie of five items that DynamoDB returns over two pages in no particular order, and items of two
    statuses, when the provider-less listing is read two at a time, then the pages hold every item once, newest
    first, the tie in (provider, delivery_id) descending order."""
    tie = "2026-01-31T12:00:01.000Z"
    pages = {
        "processed": [
            [item("github", "n", "2026-01-31T12:00:05.000Z"), item("github", "t2", tie), item("stripe", "t4", tie)],
            [item("github", "t1", tie), item("github", "t3", tie), item("github", "o", "2026-01-31T11:00:00.000Z")],
        ],
        "failed": [[item("twilio", "f", "2026-01-31T12:00:03.000Z", "failed"), item("twilio", "t5", tie, "failed")]],
    }
    client = PagedQueries(pages)

    seen, token = [], None
    for _ in range(10):
        page = list_page("t", limit=2, page_token=token, dynamodb=client)
        seen.extend(row["delivery_id"] for row in page.items)
        token = page.next_page_token
        if token is None:
            break

    assert seen == ["n", "f", "t5", "t4", "t3", "t2", "t1", "o"]


def test_list_page_refuses_a_token_for_other_filters():
    token = encode_page_token(ListFilters(provider="github"), Cursor("t", "github", "x"))

    with pytest.raises(ValueError, match="issued for other filters"):
        list_page("t", provider="stripe", page_token=token, dynamodb=PagedQueries({}))


def test_an_empty_time_window_reads_nothing():
    client = PagedQueries({"processed": [[item("github", "a", "2026-01-31T12:00:00.000Z")]]})
    since, until = datetime(2026, 1, 31, 13, tzinfo=UTC), datetime(2026, 1, 31, 12, tzinfo=UTC)

    page = list_page("t", since=since, until=until, dynamodb=client)

    assert page.items == [] and page.next_page_token is None and client.calls == []


def test_optional_columns_appear_only_when_a_row_fills_them():
    plain = [column.header for column in list_columns([item("github", "a", "t")])]
    filled = [column.header for column in list_columns([{**item("github", "a", "t"), "replay_count": 1}])]

    assert "NEXT_ATTEMPT_AT" not in plain and "REPLAYS" not in plain
    assert "REPLAYS" in filled and "NEXT_ATTEMPT_AT" in [c.header for c in list_columns([], waiting=True)]


# -- body rendering --------------------------------------------------------------------------------------------


def test_json_is_pretty_printed_with_its_keys_in_order():
    raw = b'{"z":1,"a":{"y":[1,2],"b":"\xc3\xa9"}}'

    assert render_body(raw, "application/json; charset=utf-8") == (
        '{\n  "z": 1,\n  "a": {\n    "y": [\n      1,\n      2\n    ],\n    "b": "é"\n  }\n}'
    )


@pytest.mark.parametrize("content_type", [None, "", "application/vnd.api+json"])
def test_json_is_recognised_by_a_json_media_type_or_sniffed(content_type):
    assert render_body(b' [{"a": 1}]', content_type) == '[\n  {\n    "a": 1\n  }\n]'


def test_text_that_looks_like_json_but_is_not_stays_as_is():
    assert render_body(b"{not json", None) == "{not json"


def test_a_form_is_one_decoded_field_a_line_in_order():
    raw = b"Body=Hi+there%21&From=%2B15005550006&Body=again&Empty="

    assert render_body(raw, "application/x-www-form-urlencoded").splitlines() == [
        "Body = Hi there!",
        "From = +15005550006",
        "Body = again",
        "Empty = ",
    ]


def test_a_form_is_not_sniffed_without_its_content_type():
    assert render_body(b"a=1&b=2", None) == "a=1&b=2"


def test_binary_is_not_rendered_and_the_note_names_size_and_digest():
    raw = b"\x89PNG\r\n\x1a\n\x00\xff"

    assert render_body(raw, "image/png") is None
    digest = hashlib.sha256(raw).hexdigest()
    assert binary_note(raw) == f"the body is binary (10 bytes, sha256 {digest}): write its exact bytes with --raw FILE"


def test_a_declared_charset_decodes_the_text():
    assert decode_text("café".encode("latin-1"), "text/plain; charset=ISO-8859-1") == "café"
    assert decode_text("café".encode("latin-1"), "text/plain") is None
    assert decode_text(b"ok", "text/plain; charset=no-such-charset") == "ok"


def test_headers_are_name_value_lines_in_recorded_order():
    assert render_headers({"X-B": "2", "content-type": "application/json"}) == "X-B: 2\ncontent-type: application/json"
