"""Write realistic, correctly signed API Gateway HTTP API (payload format 2.0) events into ``events/``.

Run ``make events`` (``python -m tools.make_events``) to (re)generate every file. Everything is deterministic
except Stripe's signature timestamp: Stripe signs ``t=<now>``, and the gateway only accepts it for 300 s, so the
Stripe files must be re-signed shortly before they are used (``sam local invoke``, e2e runs).

The samples, their signing and the HTTP API v2 event builder live in the installed CLI package
(:mod:`hookctl.samples`: ``hookctl send`` and the local runner use the same code); this module re-exports them and
owns the ``events/`` files:

* :data:`SAMPLE_SECRETS` - provider -> the sample secret every sample event is signed with;
* :func:`sign_request` - a signed provider request (URL, headers, raw body) for one provider and event kind, ready to
  be sent over HTTP to any base URL;
* :func:`event_from_request` - the HTTP API v2 event API Gateway would hand to the receiver for that request;
* :func:`build_event` / :func:`sign_and_build` - both steps at once;
* :data:`EVENT_FILES` - each file in ``events/`` with its expected HTTP status and rejection reason;
* :func:`build_event_file` / :func:`render_event` - exactly what ``events/<name>`` must contain.

Signatures are computed with ``hmac`` as each provider documents them; the tests check them against the providers'
own SDKs (stripe-python, twilio-python) and their published vectors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookctl.samples import (  # noqa: F401  (re-exported: the generator's public names)
    ACCOUNT_ID,
    API_ID,
    DEFAULT_BASE_URL,
    FUNCTION_LOGICAL_IDS,
    GITHUB_WEBHOOK_SECRET,
    HOST,
    KINDS,
    PROVIDERS,
    REASON_SIGNATURE_MISMATCH,
    REASON_TIMESTAMP_TOO_OLD,
    REGION,
    SAMPLE_DELIVERY_TIME,
    SAMPLE_SECRETS,
    STAGE,
    STRIPE_API_VERSION,
    STRIPE_ENDPOINT_SECRET,
    STRIPE_TOLERANCE_SECONDS,
    TWILIO_AUTH_TOKEN,
    WRONG_SECRETS,
    SignedRequest,
    api_gateway_sends_as_text,
    build_event,
    event_from_request,
    github_signature_headers,
    sign_and_build,
    sign_request,
    stripe_signature_header,
    twilio_form_params,
    twilio_signature,
    twilio_url_with_body_hash,
)

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"


@dataclass(frozen=True)
class ExpectedOutcome:
    """What the receiver must answer for one sample event file."""

    provider: str
    kind: str
    status: int
    reason: str | None = None  # the rejection reason code; None for accepted deliveries

    @property
    def valid(self) -> bool:
        return self.status < 400

    @property
    def function(self) -> str:
        """The SAM logical id of the receiver that handles this file."""
        return FUNCTION_LOGICAL_IDS[self.provider]


# --------------------------------------------------------------------------------------------------------------------
# The files in events/
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FileSpec:
    expected: ExpectedOutcome
    wrong_secret: bool = False
    # Stripe only: how long before delivery the signature was made (a replayed, stale request).
    signed_seconds_before_delivery: int = 0


def _spec(provider: str, kind: str, status: int, reason: str | None = None, **extra: Any) -> _FileSpec:
    return _FileSpec(ExpectedOutcome(provider, kind, status, reason), **extra)


_FILE_SPECS: dict[str, _FileSpec] = {
    "github_push.json": _spec("github", "push", 202),
    "github_ping.json": _spec("github", "ping", 202),
    # GitHub hook with content type "form": HTTP API base64-encodes form bodies, so the receiver must decode them.
    "github_push_base64.json": _spec("github", "push_form", 202),
    "stripe_payment_intent_succeeded.json": _spec("stripe", "payment_intent.succeeded", 202),
    # Form-encoded, so API Gateway delivers it base64-encoded as well.
    "twilio_sms_inbound.json": _spec("twilio", "sms_inbound", 200),
    "twilio_json_body_sha256.json": _spec("twilio", "json_body", 200),
    "github_bad_signature.json": _spec("github", "push", 401, REASON_SIGNATURE_MISMATCH, wrong_secret=True),
    "stripe_stale_timestamp.json": _spec(
        "stripe", "payment_intent.succeeded", 401, REASON_TIMESTAMP_TOO_OLD, signed_seconds_before_delivery=3600
    ),
    "twilio_bad_signature.json": _spec("twilio", "sms_inbound", 401, REASON_SIGNATURE_MISMATCH, wrong_secret=True),
}

EVENT_FILES: dict[str, ExpectedOutcome] = {name: spec.expected for name, spec in _FILE_SPECS.items()}


def stripe_signature_timestamp(event: Mapping[str, Any]) -> int | None:
    """The ``t=`` of an event's ``stripe-signature`` header, or None when it has none."""
    header = (event.get("headers") or {}).get("stripe-signature")
    if not header:
        return None
    for item in str(header).split(","):
        name, _, value = item.partition("=")
        if name.strip() == "t" and value.strip().isdigit():
            return int(value)
    return None


def build_event_file(name: str, *, timestamp: float | None = None) -> dict[str, Any]:
    """Exactly the event ``events/<name>`` holds.

    ``timestamp`` is the Stripe signature time (default: now, or an hour ago for the stale file); pass the ``t=`` of
    a file on disk (:func:`stripe_signature_timestamp`) to reproduce it byte for byte. Other files ignore it.
    """
    try:
        spec = _FILE_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown event file {name!r}; known: {sorted(_FILE_SPECS)}") from None
    provider, kind = spec.expected.provider, spec.expected.kind
    secret = WRONG_SECRETS[provider] if spec.wrong_secret else SAMPLE_SECRETS[provider]
    if provider != "stripe":
        request = sign_request(provider, kind, secret=secret)
    else:
        signed_at = int(time.time()) - spec.signed_seconds_before_delivery if timestamp is None else int(timestamp)
        request = sign_request(provider, kind, secret=secret, timestamp=signed_at)
        if spec.signed_seconds_before_delivery:
            # A replay: signed then, delivered (received by API Gateway) now.
            request = dataclasses.replace(request, sent_at=request.sent_at + spec.signed_seconds_before_delivery)
    return event_from_request(request, seed=name)


def render_event(event: Mapping[str, Any]) -> str:
    """The file text for an event: pretty JSON (indent 2), UTF-8 kept readable, trailing newline."""
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def _selected(only: Iterable[str] | None) -> list[str]:
    if not only:
        return list(_FILE_SPECS)
    wanted = set(only)
    unknown = wanted - set(_FILE_SPECS) - set(PROVIDERS)
    if unknown:
        raise ValueError(f"unknown file or provider: {sorted(unknown)}")
    return [name for name, spec in _FILE_SPECS.items() if name in wanted or spec.expected.provider in wanted]


def write_events(directory: Path = EVENTS_DIR, *, only: Iterable[str] | None = None) -> list[Path]:
    """(Re)write the sample event files (Stripe ones signed now); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in _selected(only):
        path = directory / name
        path.write_text(render_event(build_event_file(name)), encoding="utf-8")
        written.append(path)
    return written


def stale_event_files(directory: Path = EVENTS_DIR) -> list[str]:
    """Files that are missing or differ from what the generator produces (ignoring Stripe's signing time)."""
    stale = []
    for name in _FILE_SPECS:
        path = directory / name
        if not path.is_file():
            stale.append(name)
            continue
        text = path.read_text(encoding="utf-8")
        try:
            timestamp = stripe_signature_timestamp(json.loads(text))
        except ValueError:
            stale.append(name)
            continue
        if text != render_event(build_event_file(name, timestamp=timestamp)):
            stale.append(name)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.make_events",
        description="Write correctly signed API Gateway HTTP API v2 sample events (Stripe ones are signed now).",
    )
    parser.add_argument("--out", type=Path, default=EVENTS_DIR, help="directory to write (default: events/)")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="file names or providers to write (e.g. --only stripe)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is missing or out of date"
    )
    args = parser.parse_args(argv)

    if args.check:
        stale = stale_event_files(args.out)
        for name in stale:
            print(f"out of date: {args.out / name} (run `make events`)", file=sys.stderr)
        return 1 if stale else 0

    try:
        written = write_events(args.out, only=args.only)
    except ValueError as error:
        parser.error(str(error))
    for path in written:
        outcome = EVENT_FILES[path.name]
        print(f"wrote {path}  (expect {outcome.status}{' ' + outcome.reason if outcome.reason else ''})")
    if any(EVENT_FILES[path.name].provider == "stripe" for path in written):
        print(f"Stripe events are signed with t=now: use them within {STRIPE_TOLERANCE_SECONDS} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
