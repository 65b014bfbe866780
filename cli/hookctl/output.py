"""Rendering: aligned plain-text tables and records for people, JSON for machines. No dependency."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

ELLIPSIS = "..."


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    max_width: int | None = None  # longer cells are cut and end with "..."
    align: str = "left"  # or "right" (numbers)


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


def render_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], empty_message: str = "") -> str:
    """Left-aligned columns separated by two spaces; the header in upper case, as `kubectl get` does."""
    cells = [[_cut(_cell(row.get(col.key)), col.max_width) for col in columns] for row in rows]
    if not cells and empty_message:
        return empty_message
    widths = [max([len(col.header)] + [len(r[i]) for r in cells]) for i, col in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if col.align == "right" else value.ljust(width)
            for value, width, col in zip(values, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line([col.header for col in columns]), *(line(r) for r in cells)])


def render_record(pairs: Iterable[tuple[str, Any]]) -> str:
    """``key: value`` lines with the values aligned; for one item (``deliveries show``)."""
    pairs = [(key, _cell(value)) for key, value in pairs]
    if not pairs:
        return ""
    width = max(len(key) for key, _ in pairs) + 1
    return "\n".join(f"{(key + ':').ljust(width)}  {value}".rstrip() for key, value in pairs)
