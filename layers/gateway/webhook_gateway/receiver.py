"""The receiver: verify one HTTP delivery, queue it durably, answer the provider.

Order of checks, cheapest and least trusting first: the HTTP method (one the provider declares, before any secret
is read), body size, source IP allowlist, signature (with the rotated secret), then the provider's handshake (an
endpoint confirmation is answered as the provider wants it and never queued), then the provider's body format, then
whether the delivery id and event type the verifier named can be carried (SQS attributes, ledger keys). Only a
delivery that passed all of them is enqueued, and only an enqueued one (or a verified handshake) gets a 2xx. Every
rejection is logged and counted with its reason code; nothing secret and no body is logged.

A batch provider (``Provider.split``: HubSpot's JSON array of events) gets the same checks, then its verified body is
split into the exact bytes of each event; each part is identified (``identify`` on the request with that part as
its body) and checked, and becomes its own envelope (with ``batch``: its index, the count and the hash of the whole
body). They are queued together (``EnvelopeSender.send_batch``), and the 2xx comes only when every part is queued;
otherwise a 503, and the provider's retry of the whole request is deduplicated per event by the consumer. Each
queued event is counted in ``DeliveriesEnqueued`` and logged on its own ``delivery accepted`` line (its delivery id
as the correlation id, with ``batch_index`` and ``batch_count``); ``DeliveriesReceived`` counts requests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import ValidationError

from webhook_gateway.envelope import BatchPosition, Envelope, delivery_id_problem, event_type_problem, sqs_carryable
from webhook_gateway.http import json_response, request_from_event, text_response
from webhook_gateway.observability import logger, metrics
from webhook_gateway.queue import EnqueueError, EnvelopeSender
from webhook_gateway.secrets import PREVIOUS, RotatingSecret
from webhook_gateway.settings import ReceiverSettings, SettingsError, parse_cidr_list
from webhook_gateway.verifiers import load_provider
from webhook_gateway.verifiers.base import (
    Acknowledgement,
    DeliveryIdentity,
    Provider,
    Reason,
    Rejected,
    SecretCandidate,
    VerificationPolicy,
    WebhookRequest,
    provider_instance,
    public_url,
)

STATUS_BY_REASON: Mapping[Reason, int] = {
    Reason.MISSING_SIGNATURE: 401,
    Reason.MALFORMED_SIGNATURE: 401,
    Reason.SIGNATURE_MISMATCH: 401,
    Reason.TIMESTAMP_TOO_OLD: 401,
    Reason.TIMESTAMP_IN_FUTURE: 401,
    Reason.BODY_HASH_MISMATCH: 401,
    Reason.SOURCE_IP_NOT_ALLOWED: 403,
    Reason.PAYLOAD_TOO_LARGE: 413,
    Reason.UNPARSEABLE_PAYLOAD: 400,
    Reason.INVALID_DELIVERY_ID: 400,
    Reason.INVALID_EVENT_TYPE: 400,
    Reason.METHOD_NOT_ALLOWED: 405,
    # Our failure, not the sender's: a 5xx makes the provider retry once the secret is readable again.
    Reason.SECRET_UNAVAILABLE: 503,
}
ENQUEUE_FAILED = "enqueue_failed"


class SecretSource(Protocol):
    def candidates(self) -> Iterable[SecretCandidate]: ...


class Sender(Protocol):
    def send(self, envelope: Envelope, raw_body: bytes) -> Envelope: ...

    # Only batch providers (Provider.split) call it: every (envelope, raw part) queued, or EnqueueError.
    def send_batch(self, items: Sequence[tuple[Envelope, bytes]]) -> list[Envelope]: ...


@dataclass
class Receiver:
    provider: Provider
    settings: ReceiverSettings
    secret: SecretSource
    sender: Sender
    clock: Callable[[], float] = time.time
    _allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(init=False)
    _kept_headers: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self._allowed_networks = parse_cidrs(self.settings.allowed_source_cidrs)
        self._kept_headers = kept_headers(self.provider, keep_signatures=self.keeps_signatures)

    @property
    def keeps_signatures(self) -> bool:
        """KEEP_SIGNATURE_HEADERS, for a provider whose queued body is the signed one: a batch provider's events are
        slices of the signed request (Provider.split), which no signature covers, so theirs are never kept."""
        return self.settings.keep_signature_headers and self.provider.split is None

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        logger.append_keys(provider=self.provider.name)
        metrics.add_metric(name="DeliveriesReceived", unit=MetricUnit.Count, value=1)
        try:
            request = request_from_event(event)
            self._check_method(request)
            self._check_size(request)
            self._check_source(request)
            matched = self.provider.verify(request, self.secret.candidates(), self._policy())
            answer = self.provider.handshake(request, matched)
            if answer is None and self.provider.split is not None:
                parts = self._identified_parts(request)
            elif answer is None:
                identity = self.provider.identify(request)
                check_identity(identity)
        except Rejected as rejection:
            return self._reject(rejection, event)
        except Exception:  # a verifier bug must fail closed as a 4xx, never queue and never look like our outage
            logger.exception("verifier raised unexpectedly; rejecting the delivery")
            return self._reject(Rejected(Reason.MALFORMED_SIGNATURE, "unexpected verifier error"), event)
        if answer is not None:
            return self._answer_handshake(request, answer, matched)
        if self.provider.split is not None:
            return self._accept_batch(request, parts, matched, event)

        logger.set_correlation_id(identity.delivery_id)
        try:
            envelope = self._envelope(request, identity, matched)
        except ValidationError as error:
            # Verified, yet not representable as an envelope: a retry would fail the same way, so 4xx, never 5xx.
            return self._reject(envelope_rejection(error), event)
        try:
            queued = self.sender.send(envelope, request.body)
        except EnqueueError as error:
            logger.error(
                "delivery not queued; answering 503 so the provider retries",
                extra={"reason": ENQUEUE_FAILED, "error": str(error), "event_type": identity.event_type},
            )
            metrics.add_metric(name="EnqueueFailures", unit=MetricUnit.Count, value=1)
            return json_response(503, {"error": ENQUEUE_FAILED})

        metrics.add_metric(name="DeliveriesEnqueued", unit=MetricUnit.Count, value=1)
        if queued.body_ref is not None:
            metrics.add_metric(name="BodiesOverflowedToS3", unit=MetricUnit.Count, value=1)
        metric_name = "VerifiedWithPreviousSecret" if matched.version == PREVIOUS else "VerifiedWithCurrentSecret"
        metrics.add_metric(name=metric_name, unit=MetricUnit.Count, value=1)
        logger.info(
            "delivery accepted",
            extra={
                "outcome": "accepted",
                "delivery_id": identity.delivery_id,
                "event_type": identity.event_type,
                "secret_version": matched.version,
                "body_location": queued.body_location,
                "body_size": len(request.body),
            },
        )
        ack = self.provider.acknowledge(identity)
        return text_response(ack.status, ack.body, ack.content_type)

    def _identified_parts(self, request: WebhookRequest) -> list[tuple[WebhookRequest, DeliveryIdentity]]:
        """A batch request's parts (Provider.split), each as a request of its own with its checked identity."""
        assert self.provider.split is not None
        parts = []
        for body in self.provider.split(request):
            part = dataclasses.replace(request, body=body)
            identity = self.provider.identify(part)
            check_identity(identity)
            parts.append((part, identity))
        if not parts:  # a split that found no event: nothing to queue, and a 2xx would say it was
            raise Rejected(Reason.UNPARSEABLE_PAYLOAD, "the batch holds no event")
        return parts

    def _accept_batch(
        self,
        request: WebhookRequest,
        parts: list[tuple[WebhookRequest, DeliveryIdentity]],
        matched: SecretCandidate,
        event: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Queue one envelope per part, all of them or answer 503; then one log line per queued event."""
        request_sha256 = hashlib.sha256(request.body).hexdigest()
        count = len(parts)
        try:
            items = [
                (
                    self._envelope(part, identity, matched).model_copy(
                        update={"batch": BatchPosition(index=index, count=count, request_sha256=request_sha256)}
                    ),
                    part.body,
                )
                for index, (part, identity) in enumerate(parts)
            ]
        except ValidationError as error:
            return self._reject(envelope_rejection(error), event)
        try:
            queued = self.sender.send_batch(items)
        except EnqueueError as error:
            logger.error(
                "batch not fully queued; answering 503 so the provider retries it",
                extra={"reason": ENQUEUE_FAILED, "error": str(error), "batch_count": count},
            )
            metrics.add_metric(name="EnqueueFailures", unit=MetricUnit.Count, value=1)
            return json_response(503, {"error": ENQUEUE_FAILED})

        metrics.add_metric(name="DeliveriesEnqueued", unit=MetricUnit.Count, value=count)
        overflowed = sum(envelope.body_ref is not None for envelope in queued)
        if overflowed:
            metrics.add_metric(name="BodiesOverflowedToS3", unit=MetricUnit.Count, value=overflowed)
        metric_name = "VerifiedWithPreviousSecret" if matched.version == PREVIOUS else "VerifiedWithCurrentSecret"
        metrics.add_metric(name=metric_name, unit=MetricUnit.Count, value=count)
        for index, ((part, identity), envelope) in enumerate(zip(parts, queued, strict=True)):
            logger.set_correlation_id(identity.delivery_id)
            logger.info(
                "delivery accepted",
                extra={
                    "outcome": "accepted",
                    "delivery_id": identity.delivery_id,
                    "event_type": identity.event_type,
                    "secret_version": matched.version,
                    "body_location": envelope.body_location,
                    "body_size": len(part.body),
                    "batch_index": index,
                    "batch_count": count,
                },
            )
        ack = self.provider.acknowledge(parts[0][1])
        return text_response(ack.status, ack.body, ack.content_type)

    def _policy(self) -> VerificationPolicy:
        return VerificationPolicy(
            now=self.clock(),
            tolerance_seconds=self.settings.tolerance_seconds,
            future_tolerance_seconds=self.settings.future_tolerance_seconds,
            public_base_url=self.settings.public_base_url,
        )

    def _check_method(self, request: WebhookRequest) -> None:
        if request.method not in self.provider.methods:
            allowed = ", ".join(self.provider.methods)
            raise Rejected(Reason.METHOD_NOT_ALLOWED, f"method {request.method[:20]!r}, allowed: {allowed}")

    def _answer_handshake(
        self, request: WebhookRequest, answer: Acknowledgement, matched: SecretCandidate
    ) -> dict[str, Any]:
        """A verified endpoint confirmation: answered as the provider asked, counted, never queued."""
        metrics.add_metric(name="HandshakesAnswered", unit=MetricUnit.Count, value=1)
        logger.info(
            "handshake answered",
            extra={
                "outcome": "handshake_answered",
                "method": request.method,
                "status_code": answer.status,
                "secret_version": matched.version,
            },
        )
        return text_response(answer.status, answer.body, answer.content_type)

    def _check_size(self, request: WebhookRequest) -> None:
        if len(request.body) > self.settings.max_body_bytes:
            raise Rejected(
                Reason.PAYLOAD_TOO_LARGE, f"{len(request.body)} bytes > limit {self.settings.max_body_bytes}"
            )

    def _check_source(self, request: WebhookRequest) -> None:
        if not self._allowed_networks:
            return
        try:
            address = ipaddress.ip_address(request.source_ip)
        except ValueError:
            raise Rejected(Reason.SOURCE_IP_NOT_ALLOWED, "source IP missing or invalid") from None
        if not any(address in network for network in self._allowed_networks):
            raise Rejected(Reason.SOURCE_IP_NOT_ALLOWED, f"{address} is outside the allowlist")

    def _envelope(self, request: WebhookRequest, identity: DeliveryIdentity, matched: SecretCandidate) -> Envelope:
        # Unsigned, informational strings: a lone surrogate (from a JSON escape in the event) could not be written.
        headers = {name: sqs_carryable(request.headers[name]) for name in self._kept_headers if name in request.headers}
        return Envelope(
            provider=self.provider.name,
            provider_kind=self.settings.kind if self.settings.kind != self.provider.name else None,
            delivery_id=identity.delivery_id,
            delivery_id_signed=identity.delivery_id_signed,
            event_type=identity.event_type,
            received_at=datetime.fromtimestamp(self.clock(), tz=UTC),
            request_id=sqs_carryable(request.request_id),
            source_ip=sqs_carryable(request.source_ip),
            secret_version=matched.version,
            headers=headers,
            request_url=sqs_carryable(public_url(request, self._policy())) if self.keeps_signatures else None,
            **Envelope.inline_body_fields(request.body),
        )

    def _reject(self, rejection: Rejected, event: Mapping[str, Any]) -> dict[str, Any]:
        status = STATUS_BY_REASON[rejection.reason]
        context = event.get("requestContext") or {}
        logger.warning(
            "delivery rejected",
            extra={
                "outcome": "rejected",
                "reason": rejection.reason.value,
                "detail": rejection.detail,
                "status_code": status,
                "source_ip": (context.get("http") or {}).get("sourceIp"),
                "request_id": context.get("requestId"),
            },
        )
        with single_metric(
            name="DeliveriesRejected",
            unit=MetricUnit.Count,
            value=1,
            namespace=metrics.namespace,
            default_dimensions={**metrics.default_dimensions, "reason": rejection.reason.value},
        ):
            pass
        response = json_response(status, {"error": rejection.reason.value})
        if rejection.reason is Reason.METHOD_NOT_ALLOWED:
            response["headers"]["allow"] = ", ".join(self.provider.methods)  # RFC 9110: a 405 names what is allowed
        return response


def kept_headers(provider: Provider, *, keep_signatures: bool = False) -> tuple[str, ...]:
    """The request headers an envelope keeps: the provider's forwarded_headers, and with ``keep_signatures``
    (KEEP_SIGNATURE_HEADERS) its signature_headers too."""
    if not keep_signatures:
        return provider.forwarded_headers
    return tuple(dict.fromkeys((*provider.forwarded_headers, *provider.signature_headers)))


def check_identity(identity: DeliveryIdentity) -> None:
    """Refuse, before any 2xx, an identity that SQS or the ledger cannot carry, whichever verifier produced it."""
    problem = delivery_id_problem(identity.delivery_id)
    if problem is not None:
        raise Rejected(Reason.INVALID_DELIVERY_ID, f"delivery id {problem}")
    problem = event_type_problem(identity.event_type)
    if problem is not None:
        raise Rejected(Reason.INVALID_EVENT_TYPE, f"event type {problem}")


def envelope_rejection(error: ValidationError) -> Rejected:
    """The rejection for an envelope that failed validation; names fields and error types, never the input."""
    errors = error.errors(include_url=False, include_input=False, include_context=False)
    fields = sorted({str(e["loc"][0]) if e["loc"] else "<root>" for e in errors})
    logger.error(
        "verified delivery cannot be represented as an envelope; rejecting it",
        extra={"fields": fields, "errors": sorted({e["type"] for e in errors})},
    )
    if "delivery_id" in fields:
        reason = Reason.INVALID_DELIVERY_ID
    elif "event_type" in fields:
        reason = Reason.INVALID_EVENT_TYPE
    else:
        reason = Reason.UNPARSEABLE_PAYLOAD
    return Rejected(reason, f"envelope fields rejected: {', '.join(fields)}")


def parse_cidrs(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return parse_cidr_list(text)


def configured_provider(settings: ReceiverSettings) -> Provider:
    """The provider instance the settings name, configured; :class:`SettingsError` when the kind or options are bad."""
    try:
        kind = load_provider(settings.kind)
    except ValueError as error:
        variable = "PROVIDER_KIND" if settings.provider_kind else "PROVIDER"
        raise SettingsError(f"invalid receiver settings: {variable}: {error}") from None
    try:
        return provider_instance(kind, settings.provider, settings.provider_options)
    except ValueError as error:
        raise SettingsError(f"invalid receiver settings: PROVIDER_OPTIONS: {error}") from None


def build_receiver(settings: ReceiverSettings) -> Receiver:
    """Wire a receiver from validated settings; AWS clients are created on first use."""
    provider = configured_provider(settings)
    metrics.set_default_dimensions(provider=provider.name)
    return Receiver(
        provider=provider,
        settings=settings,
        secret=RotatingSecret(settings.secret_id, max_age_seconds=settings.secret_max_age_seconds),
        sender=EnvelopeSender(
            settings.queue_url,
            settings.overflow_bucket,
            inline_limit_bytes=settings.inline_envelope_limit_bytes,
        ),
    )
