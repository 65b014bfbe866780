"""Write realistic, correctly signed API Gateway HTTP API (payload format 2.0) events into ``events/``, and the SQS
events the consumer receives for them.

Run ``make events`` (``python -m tools.make_events``) to (re)generate every file. Everything is deterministic
except Stripe's and Slack's signature timestamps: they sign the time of sending, and the gateway only accepts it for
300 s, so the Stripe and Slack files must be re-signed shortly before they are used (``sam local invoke``, e2e runs).

The samples, their signing and the HTTP API v2 event builder live in the installed CLI package
(:mod:`hookctl.samples`: ``hookctl send`` and the local runner use the same code); this module re-exports them and
owns the ``events/`` files:

* :data:`SAMPLE_SECRETS` - provider -> the sample secret every sample event is signed with;
* :func:`sign_request` - a signed provider request (URL, headers, raw body) for one provider and event kind, ready to
  be sent over HTTP to any base URL;
* :func:`event_from_request` - the HTTP API v2 event API Gateway would hand to the receiver for that request;
* :func:`build_event` / :func:`sign_and_build` - both steps at once;
* :data:`EVENT_FILES` - each file in ``events/`` with its expected HTTP status and rejection reason;
* :data:`CONSUMER_EVENT_FILES` - each consumer event in ``events/`` (Lambda's SQS event shape) with the HTTP event
  whose envelope it carries: the envelope is what the real receiver (:class:`webhook_gateway.receiver.Receiver`, with
  a fixed clock, the sample secret and a capturing SQS client under the real ``EnvelopeSender``) queues for it;
* :func:`build_event_file` / :func:`render_event` - exactly what ``events/<name>`` must contain.

Signatures are computed with ``hmac`` as each provider documents them; the tests check them against the providers'
own SDKs (stripe-python, slack_sdk, twilio-python) and their published vectors.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import functools
import hashlib
import json
import struct
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookctl.samples import (  # noqa: F401  (re-exported: the generator's public names)
    ACCOUNT_ID,
    API_ID,
    DEFAULT_BASE_URL,
    FUNCTION_LOGICAL_IDS,
    HOST,
    KINDS,
    PROVIDERS,
    REASON_SIGNATURE_MISMATCH,
    REASON_TIMESTAMP_TOO_OLD,
    REGION,
    SAMPLE_SECRETS,
    STAGE,
    STRIPE_TOLERANCE_SECONDS,
    WRONG_SECRETS,
    SignedRequest,
    api_gateway_sends_as_text,
    build_event,
    event_from_request,
    provider_samples,
    sign_and_build,
    sign_request,
)
from webhook_gateway.verifiers import load_provider, logical_name
from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME  # noqa: F401  (re-exported)

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"


@dataclass(frozen=True)
class ExpectedOutcome:
    """What the receiver must answer for one sample event file."""

    provider: str
    kind: str
    status: int
    reason: str | None = None  # the rejection reason code; None for accepted deliveries
    # Envelopes the receiver queues for the file when it accepts it: one, or one per event of a batch request
    # (Provider.split: HubSpot's array); a handshake is answered and queues none.
    deliveries: int = 1

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
    # Providers that sign the time (Stripe, Slack): how long before delivery the signature was made (a replay).
    signed_seconds_before_delivery: int = 0


def _spec(
    provider: str, kind: str, status: int, reason: str | None = None, deliveries: int = 1, **extra: Any
) -> _FileSpec:
    return _FileSpec(ExpectedOutcome(provider, kind, status, reason, deliveries), **extra)


def deliveries_of(provider: str, kind: str) -> int:
    """How many envelopes one accepted request of the kind becomes: 1, or its parts for a batch provider."""
    from webhook_gateway.verifiers.base import WebhookRequest

    spec = load_provider(provider)
    samples = provider_samples(provider)
    if kind in samples.handshakes:
        return 0
    if spec.split is None:
        return 1
    return len(spec.split(WebhookRequest(body=samples.kinds[kind]().body, headers={})))


def _provider_file_specs(provider: str) -> dict[str, _FileSpec]:
    """The provider's files: one per sample kind, its bad signature and (if it signs the time) a stale replay."""
    from webhook_gateway.verifiers.base import DeliveryIdentity

    samples = provider_samples(provider)
    accepted = load_provider(provider).acknowledge(DeliveryIdentity("sample", "sample")).status
    specs = {}
    for kind in samples.kinds:
        stem = samples.event_file_names.get(kind) or f"{provider}_{kind.replace('.', '_')}"
        # A handshake is answered 200 with its challenge, whatever a delivery's acknowledgement is.
        status = 200 if kind in samples.handshakes else accepted
        specs[f"{stem}.json"] = _spec(provider, kind, status, deliveries=deliveries_of(provider, kind))
    default_kind = next(iter(samples.kinds))
    specs[f"{provider}_bad_signature.json"] = _spec(
        provider, default_kind, 401, REASON_SIGNATURE_MISMATCH, wrong_secret=True
    )
    if samples.signs_time:
        specs[f"{provider}_stale_timestamp.json"] = _spec(
            provider, default_kind, 401, REASON_TIMESTAMP_TOO_OLD, signed_seconds_before_delivery=3600
        )
    return specs


# Every provider of the registry: API Gateway base64-encodes form bodies (GitHub's "form" hooks, Twilio's), so those
# files also prove that the receiver decodes them.
_FILE_SPECS: dict[str, _FileSpec] = {
    name: spec for provider in PROVIDERS for name, spec in sorted(_provider_file_specs(provider).items())
}

EVENT_FILES: dict[str, ExpectedOutcome] = {name: spec.expected for name, spec in _FILE_SPECS.items()}


# --------------------------------------------------------------------------------------------------------------------
# Consumer events: Lambda's SQS event, one record carrying the envelope a receiver queued
# --------------------------------------------------------------------------------------------------------------------

CONSUMER_FUNCTION = "ConsumerFunction"
# Where the samples pretend to be queued: a deployed stack's queue (CloudFormation names it <stack>-<LogicalId>-<id>).
SAMPLE_QUEUE_NAME = "webhook-gateway-WebhookQueue-3kZ8sQyLmT2b"
SAMPLE_QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{SAMPLE_QUEUE_NAME}"
SAMPLE_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{SAMPLE_QUEUE_NAME}"
SAMPLE_OVERFLOW_BUCKET = f"webhook-gateway-overflowbucket-{ACCOUNT_ID}"
# SenderId of a message sent by a Lambda function: its role's id and the function's session name.
_SENDER_ROLE_ID = "AROAXAMPLE4RECEIVER7ID"


@dataclass(frozen=True)
class ConsumerEvent:
    """An SQS event for the consumer: ``source`` is the HTTP event file whose delivery it carries."""

    source: str
    function: str = CONSUMER_FUNCTION

    @property
    def provider(self) -> str:
        return EVENT_FILES[self.source].provider


CONSUMER_EVENT_FILES: dict[str, ConsumerEvent] = {
    # `sam local invoke ConsumerFunction -e events/consumer_github_push.json`: processed, never a poison message.
    "consumer_github_push.json": ConsumerEvent("github_push.json"),
}


class _SampleSecret:
    """The receiver's secret source, holding the sample secret as the current version."""

    def __init__(self, value: str) -> None:
        self.value = value

    def candidates(self) -> Iterable[Any]:
        from webhook_gateway.verifiers.base import SecretCandidate

        return [SecretCandidate("current", self.value)]


class _CapturingSqs:
    """An SQS client that keeps what SendMessage was given: exactly what the receiver queues."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **params: Any) -> dict[str, Any]:
        self.sent.append(params)
        return {"MessageId": str(uuid.uuid4())}


@functools.cache
def _queued_message(source: str) -> tuple[str, str]:
    """``(MessageBody, MessageAttributes as JSON)`` that the real receiver sends to SQS for ``events/<source>``.

    The receiver runs in this process, so its logger and metrics singletons are left as they were found (its log
    line is not printed, its metrics not kept). Deterministic: the clock is the event's delivery time.
    """
    from webhook_gateway.observability import logger, metrics
    from webhook_gateway.queue import EnvelopeSender
    from webhook_gateway.receiver import Receiver
    from webhook_gateway.settings import ReceiverSettings

    event = build_event_file(source)
    provider = EVENT_FILES[source].provider
    settings = ReceiverSettings.from_env(
        {
            "PROVIDER": provider,
            "QUEUE_URL": SAMPLE_QUEUE_URL,
            "SECRET_ID": f"webhook-gateway/{provider}",
            "OVERFLOW_BUCKET": SAMPLE_OVERFLOW_BUCKET,
        }
    )
    sqs = _CapturingSqs()
    receiver = Receiver(
        provider=load_provider(provider),
        settings=settings,
        secret=_SampleSecret(SAMPLE_SECRETS[provider]),
        sender=EnvelopeSender(SAMPLE_QUEUE_URL, SAMPLE_OVERFLOW_BUCKET, sqs_client=sqs),
        clock=lambda: event["requestContext"]["timeEpoch"] / 1000,
    )
    keys, level = dict(logger.get_current_keys()), logger.log_level
    metric_set = copy.deepcopy(metrics.metric_set)
    logger.setLevel("CRITICAL")
    try:
        answer = receiver.handle(event)
    finally:
        logger.setLevel(level)
        logger.remove_keys([key for key in logger.get_current_keys() if key not in keys])
        logger.append_keys(**keys)
        metrics.metric_set.clear()
        metrics.metric_set.update(metric_set)
    if answer["statusCode"] != EVENT_FILES[source].status or len(sqs.sent) != 1:
        raise RuntimeError(f"the receiver answered {answer['statusCode']} to events/{source}: {answer.get('body')}")
    [sent] = sqs.sent
    return sent["MessageBody"], json.dumps(sent["MessageAttributes"], sort_keys=True)


def sqs_attributes_md5(attributes: Mapping[str, Mapping[str, str]]) -> str:
    """SQS's MD5OfMessageAttributes: per attribute, sorted by name, the length-prefixed (4 bytes, big-endian) UTF-8
    name, data type and value, with transport type 1 (String, Number) or 2 (Binary) before the value."""
    digest = hashlib.md5(usedforsecurity=False)

    def prefixed(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        value = attributes[name]
        prefixed(name.encode("utf-8"))
        prefixed(value["DataType"].encode("utf-8"))
        if "BinaryValue" in value:
            digest.update(b"\x02")
            prefixed(bytes(value["BinaryValue"]))
        else:
            digest.update(b"\x01")
            prefixed(value["StringValue"].encode("utf-8"))
    return digest.hexdigest()


def build_consumer_event(name: str) -> dict[str, Any]:
    """Lambda's SQS event for the consumer, one record holding the message the receiver queued for the spec's
    source event: body and message attributes as sent, their MD5s as SQS computes them, ids and times fixed."""
    spec = CONSUMER_EVENT_FILES[name]
    body, attributes_json = _queued_message(spec.source)
    attributes = json.loads(attributes_json)
    source = build_event_file(spec.source)
    sent_ms = source["requestContext"]["timeEpoch"] + 38  # the receiver's SendMessage, just after the request
    seed = hashlib.sha256(f"events/{name}".encode()).digest()
    record = {
        "messageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"events/{name}")),
        "receiptHandle": "AQEB" + base64.b64encode(seed * 4).decode(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent_ms),
            "SenderId": f"{_SENDER_ROLE_ID}:webhook-gateway-{FUNCTION_LOGICAL_IDS[spec.provider]}",
            "ApproximateFirstReceiveTimestamp": str(sent_ms + 21),
        },
        "messageAttributes": {
            key: {
                "stringValue": value["StringValue"],
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for key, value in sorted(attributes.items())
        },
        "md5OfMessageAttributes": sqs_attributes_md5(attributes),
        "md5OfBody": hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": SAMPLE_QUEUE_ARN,
        "awsRegion": REGION,
    }
    return {"Records": [record]}


def signature_timestamp(event: Mapping[str, Any], provider: str | None = None) -> int | None:
    """The signing time of an event from a provider that signs it (its samples' ``signature_time``), or None.
    Without ``provider``, every provider's reading of the headers is tried (the first that finds one wins)."""
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    for name in [provider] if provider else PROVIDERS:
        signed_at = provider_samples(name).signature_time(headers)
        if signed_at is not None:
            return signed_at
    return None


def build_event_file(name: str, *, timestamp: float | None = None) -> dict[str, Any]:
    """Exactly the event ``events/<name>`` holds.

    ``timestamp`` is the signature time of a provider that signs it (Stripe, Slack; default: now, or an hour ago for
    the stale files); pass the one of a file on disk (:func:`signature_timestamp`) to reproduce it byte for byte.
    Other files ignore it.
    """
    if name in CONSUMER_EVENT_FILES:
        return build_consumer_event(name)
    try:
        spec = _FILE_SPECS[name]
    except KeyError:
        known = sorted(_FILE_SPECS) + sorted(CONSUMER_EVENT_FILES)
        raise ValueError(f"unknown event file {name!r}; known: {known}") from None
    provider, kind = spec.expected.provider, spec.expected.kind
    secret = WRONG_SECRETS[provider] if spec.wrong_secret else SAMPLE_SECRETS[provider]
    if not provider_samples(provider).signs_time:
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


ALL_EVENT_FILES: tuple[str, ...] = (*_FILE_SPECS, *CONSUMER_EVENT_FILES)


def _provider_of(name: str) -> str:
    return CONSUMER_EVENT_FILES[name].provider if name in CONSUMER_EVENT_FILES else _FILE_SPECS[name].expected.provider


def _selected(only: Iterable[str] | None) -> list[str]:
    if not only:
        return list(ALL_EVENT_FILES)
    wanted = set(only)
    unknown = wanted - set(ALL_EVENT_FILES) - set(PROVIDERS)
    if unknown:
        raise ValueError(f"unknown file or provider: {sorted(unknown)}")
    return [name for name in ALL_EVENT_FILES if name in wanted or _provider_of(name) in wanted]


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
    """Files that are missing or differ from what the generator produces (ignoring the Stripe and Slack signing
    time)."""
    stale = []
    for name in ALL_EVENT_FILES:
        path = directory / name
        if not path.is_file():
            stale.append(name)
            continue
        text = path.read_text(encoding="utf-8")
        try:
            timestamp = signature_timestamp(json.loads(text), _provider_of(name))
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
        if path.name in CONSUMER_EVENT_FILES:
            source = CONSUMER_EVENT_FILES[path.name].source
            print(f"wrote {path}  (expect no batchItemFailures: the envelope of {source})")
            continue
        outcome = EVENT_FILES[path.name]
        print(f"wrote {path}  (expect {outcome.status}{' ' + outcome.reason if outcome.reason else ''})")
    written_providers = sorted({_provider_of(path.name) for path in written})
    for provider in (name for name in written_providers if provider_samples(name).signs_time):
        title = load_provider(provider).title or logical_name(provider)
        print(f"{title} events are signed with t=now: use them within {STRIPE_TOLERANCE_SECONDS} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
