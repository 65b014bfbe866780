"""Rendering: aligned plain-text tables and records for people, JSON for machines. No dependency."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

ELLIPSIS = "..."


MIN_SHRUNK_WIDTH = 12  # a column cut to fit the terminal keeps at least this many characters


@dataclass(frozen=True)
class Column:
    """One table column. An ``identifier`` column (delivery ids, message ids, task handles) is never cut, whatever
    its length or the terminal's width: it must paste into ``show``/``replay`` as it is. A free-text column (with a
    ``max_width``) is cut there and, to fit a terminal, down to :data:`MIN_SHRUNK_WIDTH`; the others are not cut."""

    key: str
    header: str
    max_width: int | None = None  # longer cells are cut and end with "..."
    align: str = "left"  # or "right" (numbers)
    identifier: bool = False

    def __post_init__(self) -> None:
        if self.identifier and self.max_width is not None:
            raise ValueError(f"column {self.key!r}: an identifier column is never cut (no max_width)")


def to_jsonable(value: Any) -> Any:
    """DynamoDB Decimals become int/float, datetimes ISO-8601 strings, bytes are decoded leniently."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def render_json(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, sort_keys=False, ensure_ascii=False)


def iso_utc(moment: datetime, timespec: str = "auto") -> str:
    """ISO-8601 UTC with a 'Z' suffix, the format of the ledger's timestamps."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).isoformat(timespec=timespec)
    return text.removesuffix("+00:00") + "Z"


def epoch_ms_to_iso(value: Any) -> str | None:
    """Epoch milliseconds (SQS timestamps, leases) as ISO-8601 UTC: milliseconds shown only when not zero."""
    try:
        millis = int(value)
        moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return iso_utc(moment, "milliseconds" if millis % 1000 else "seconds")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    value = to_jsonable(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    # One line per row, whatever the data holds (stack traces in last_error, for instance).
    return " ".join(str(value).split())


def _cut(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    if width <= len(ELLIPSIS):
        return text[:width]
    return text[: width - len(ELLIPSIS)] + ELLIPSIS


SEPARATOR = "  "


def fit_widths(natural: Sequence[int], columns: Sequence[Column], width: int) -> list[int]:
    """Column widths whose sum (with separators) fits ``width`` if it can: the widest free-text column (one with a
    ``max_width``: errors, event types) is narrowed first, never below :data:`MIN_SHRUNK_WIDTH` or its header. Ids,
    statuses, numbers and times keep their width: a line longer than the terminal wraps rather than cut an id."""
    widths = list(natural)
    floor = [
        min(widths[i], max(MIN_SHRUNK_WIDTH, len(col.header))) if col.max_width is not None else widths[i]
        for i, col in enumerate(columns)
    ]
    excess = sum(widths) + len(SEPARATOR) * (len(widths) - 1) - width
    while excess > 0:
        candidates = [i for i in range(len(widths)) if widths[i] > floor[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        step = min(excess, widths[widest] - floor[widest])
        widths[widest] -= step
        excess -= step
    return widths


def render_table(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[Column],
    empty_message: str = "",
    *,
    width: int | None = None,
) -> str:
    """Left-aligned columns separated by two spaces; the header in upper case, as `kubectl get` does.

    ``width`` (a terminal's) narrows the cuttable columns so that a line fits, when it can; identifiers are never cut.
    """
    cells = [
        [_cell(row.get(col.key)) if col.identifier else _cut(_cell(row.get(col.key)), col.max_width) for col in columns]
        for row in rows
    ]
    if not cells and empty_message:
        return empty_message
    widths = [max([len(col.header)] + [len(r[i]) for r in cells]) for i, col in enumerate(columns)]
    if width is not None:
        widths = fit_widths(widths, columns, width)
        cells = [
            [
                value if col.identifier else _cut(value, size)
                for value, size, col in zip(r, widths, columns, strict=True)
            ]
            for r in cells
        ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(size) if col.align == "right" else value.ljust(size)
            for value, size, col in zip(values, widths, columns, strict=True)
        ]
        return SEPARATOR.join(parts).rstrip()

    return "\n".join([line([col.header for col in columns]), *(line(r) for r in cells)])


def render_any(value: Any) -> str:
    """Whatever a ``--query`` selected, for ``--output table``: a list of objects as a table (their keys as
    columns, in order of appearance), one object as ``key: value`` lines, a list of scalars one per line."""
    value = to_jsonable(value)
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        keys = list(dict.fromkeys(key for item in value for key in item))
        columns = [Column(key, key.upper(), identifier=True) for key in keys]
        return render_table(value, columns)
    if isinstance(value, dict):
        return render_record(value.items())
    if isinstance(value, list):
        return "\n".join(_cell(item) for item in value)
    return _cell(value)


def render_record(pairs: Iterable[tuple[str, Any]]) -> str:
    """``key: value`` lines with the values aligned; for one item (``deliveries show``)."""
    pairs = [(key, _cell(value)) for key, value in pairs]
    if not pairs:
        return ""
    width = max(len(key) for key, _ in pairs) + 1
    return "\n".join(f"{(key + ':').ljust(width)}  {value}".rstrip() for key, value in pairs)
