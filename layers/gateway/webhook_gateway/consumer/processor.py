"""One SQS record, start to finish: parse the envelope -> claim -> fetch the body -> dispatch -> complete.

Every record ends in exactly one of these ways (the return value, or the exception BatchProcessor turns into a
``batchItemFailures`` entry so that SQS redelivers only that record):

=================================  =====================================  ======================  ==================
situation                          ledger                                 SQS                     metric
=================================  =====================================  ======================  ==================
new delivery, handler returns      claim + complete -> processed/handled  acknowledged            DeliveriesProcessed
no handler registered              one write -> processed/skipped         acknowledged            DeliveriesSkipped
already processed                  one failed conditional write           acknowledged            DuplicatesDropped
same signed body, another id [1]_  body claim + one write -> duplicate_body  acknowledged          DuplicatesDropped
another consumer holds the lease   one failed conditional write           retried                 ClaimConflicts
ledger error (throttled, down)     nothing written                        retried                 LedgerErrors
body/handler error                 claim + fail -> failed, last_error     retried                 HandlerFailures
malformed envelope (poison)        nothing (no trustworthy key)           retried -> DLQ          PoisonMessages
any failure on the last receive    unchanged (failed)                     -> DLQ                  DeliveriesDeadLettered
=================================  =====================================  ======================  ==================

.. [1] Only for envelopes whose delivery id the provider does not sign (``delivery_id_signed`` false, e.g. GitHub):
   every such delivery first takes its body (``ledger.claim_body``, one more conditional write), so a captured body
   re-sent under a new id is acknowledged, recorded, and never handed to a handler.

Poison messages are reported as failures rather than dropped: after ``maxReceiveCount`` receives SQS moves them to
the DLQ, where they can be inspected and redriven once the receiver is fixed. Dropping them would lose deliveries
the provider was told we accepted; sending them to the DLQ directly would need ``sqs:SendMessage`` for a rare case.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError
from pydantic import ValidationError

from webhook_gateway.consumer import ledger
from webhook_gateway.consumer.bodies import load_body
from webhook_gateway.consumer.events import build_event
from webhook_gateway.consumer.registry import Registry
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.consumer.tally import (
    CLAIM_CONFLICTS,
    DELIVERIES_DEAD_LETTERED,
    DELIVERIES_PROCESSED,
    DELIVERIES_SKIPPED,
    DUPLICATES_DROPPED,
    HANDLER_FAILURES,
    LEASE_LOST,
    LEDGER_ERRORS,
    POISON_MESSAGES,
    UNKNOWN_PROVIDER,
    BatchTally,
)
from webhook_gateway.envelope import Envelope
from webhook_gateway.observability import logger
from webhook_gateway.observability import metrics as default_metrics

_RECORD_KEYS = ("provider", "delivery_id", "event_type", "message_id", "correlation_id")

# Record results (what BatchProcessor keeps as the success value).
PROCESSED = "processed"
SKIPPED = "skipped"
DUPLICATE = "duplicate"


class PoisonMessage(Exception):
    """The SQS body is not a valid envelope. The message says which fields failed, never their values."""


class ClaimConflict(Exception):
    """Another consumer holds a live lease on this delivery: retry the record later, don't process it twice."""


@dataclass(frozen=True)
class Consumer:
    """Everything a record needs, built once per execution environment. AWS clients default to lazily created
    ones; tests inject fakes or moto clients and a clock."""

    settings: ConsumerSettings
    registry: Registry
    dynamodb: Any = None
    s3: Any = None
    clock: Callable[[], float] = field(default=time.time)


def process_batch(
    event: dict[str, Any], context: Any, consumer: Consumer, *, metrics: Any = default_metrics
) -> PartialItemFailureResponse:
    """Process an SQS batch and return the partial batch response (``ReportBatchItemFailures``).

    ``raise_on_entire_batch_failure=False``: when every record fails, the response lists every record (SQS retries
    them all, exactly as if the invocation had raised), and the invocation itself stays a success so that Lambda's
    ``Errors`` metric means "the consumer crashed", not "a delivery failed" (that is ``HandlerFailures``).
    Metrics are flushed here, one EMF document per provider, hence no ``@metrics.log_metrics`` on the handler.
    """
    tally = BatchTally()
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    # The per-record log keys live in the logger's formatter. Logger.append_keys/remove_keys look it up again on
    # every call, which made up ~1.4 µs of the ~2 µs a record spent on its log keys: looked up once per batch instead.
    log_keys = logger.registered_formatter

    def record_handler(record: SQSRecord) -> str:
        return process_record(record, consumer, tally=tally, context=context, log_keys=log_keys)

    try:
        response = process_partial_response(event=event, record_handler=record_handler, processor=processor)
    finally:
        tally.publish(metrics)
    # Quiet when healthy (metrics count everything); one summary line when some records will be retried.
    failed = len(response["batchItemFailures"])
    log = logger.info if failed else logger.debug
    log("batch processed", extra={"records": len(processor.records), "failed": failed, **tally.totals()})
    return response


def process_record(
    record: SQSRecord,
    consumer: Consumer,
    *,
    tally: BatchTally,
    context: Any = None,
    log_keys: BasePowertoolsFormatter | None = None,
) -> str:
    """Process one record; return PROCESSED, SKIPPED or DUPLICATE, or raise to have SQS redeliver it.

    ``log_keys``: the logger's formatter (``logger.registered_formatter``, by default looked up here).
    """
    receive_count = _receive_count(record)
    last_receive = receive_count >= consumer.settings.max_receive_count
    try:
        envelope = parse_envelope(record)
    except PoisonMessage as error:
        tally.count(UNKNOWN_PROVIDER, POISON_MESSAGES)
        if last_receive:
            tally.count(UNKNOWN_PROVIDER, DELIVERIES_DEAD_LETTERED)
        logger.error(
            "poison message: the SQS body is not a valid envelope",
            extra={
                "message_id": record.message_id,
                "receive_count": receive_count,
                "reason": str(error),
                "dead_lettered": last_receive,
            },
        )
        raise

    # Every log line about this record, the user handler's included, carries these keys; the delivery id is also the
    # correlation id, as in the receiver's lines, so one search follows a delivery from the edge to its handler.
    log_keys = log_keys or logger.registered_formatter
    log_keys.append_keys(
        correlation_id=envelope.delivery_id,
        provider=envelope.provider,
        delivery_id=envelope.delivery_id,
        event_type=envelope.event_type,
        message_id=record.message_id,
    )
    try:
        return _process_envelope(envelope, record, consumer, tally, context)
    except Exception:
        if last_receive:
            tally.count(envelope.provider, DELIVERIES_DEAD_LETTERED)
            logger.error(
                "delivery failed on its last receive: SQS moves it to the DLQ", extra={"receive_count": receive_count}
            )
        raise
    finally:
        log_keys.remove_keys(_RECORD_KEYS)


def parse_envelope(record: SQSRecord) -> Envelope:
    try:
        return Envelope.model_validate_json(record.body)
    except ValidationError as error:
        # Field locations and error types only: pydantic's own message would quote the (payload) input.
        errors = error.errors(include_url=False, include_input=False)
        problems = sorted({f"{'.'.join(map(str, e['loc'])) or '<root>'}:{e['type']}" for e in errors})
        raise PoisonMessage(f"{error.error_count()} error(s): {', '.join(problems[:5])}") from None
    except (KeyError, TypeError):
        raise PoisonMessage("record has no body") from None


def lease_owner(context: Any, message_id: str) -> str:
    """Who holds a claim: the invocation (request id) and the message that carried the delivery.

    Without a Lambda request id (scripts, local runs) a fresh random id stands in for it: two consumers that receive
    the same message at once must never both see themselves as the holder of one claim.
    """
    request_id = getattr(context, "aws_request_id", None) or f"local-{uuid.uuid4().hex}"
    return f"{request_id}:{message_id}"


def lease_ms(context: Any, settings: ConsumerSettings) -> int:
    """How long this invocation may hold a claim: its remaining time plus a margin (so after the lease, it is dead)."""
    remaining = context.get_remaining_time_in_millis() if context is not None else settings.default_lease_ms
    return max(0, int(remaining)) + settings.lease_margin_ms


def _process_envelope(
    envelope: Envelope, record: SQSRecord, consumer: Consumer, tally: BatchTally, context: Any
) -> str:
    settings = consumer.settings
    provider = envelope.provider
    delivery = ledger.Delivery(
        provider=provider,
        delivery_id=envelope.delivery_id,
        event_type=envelope.event_type,
        received_at=envelope.received_at,
        message_id=record.message_id,
        body_location=envelope.body_location,
    )
    owner = lease_owner(context, delivery.message_id)
    handler = consumer.registry.resolve(provider, envelope.event_type)

    try:
        if not envelope.delivery_id_signed:
            first_id = ledger.claim_body(
                settings.table_name,
                delivery,
                body_sha256=envelope.body_sha256,
                now=consumer.clock(),
                ttl_days=settings.delivery_ttl_days,
                client=consumer.dynamodb,
            )
            if first_id != delivery.delivery_id:
                return _record_duplicate_body(envelope, delivery, first_id, owner, consumer, tally)
        if handler is None:
            claim = ledger.record_skipped(
                settings.table_name,
                delivery,
                owner=owner,
                now=consumer.clock(),
                ttl_days=settings.delivery_ttl_days,
                client=consumer.dynamodb,
            )
        else:
            claim = ledger.claim_delivery(
                settings.table_name,
                delivery,
                owner=owner,
                now=consumer.clock(),
                lease_ms=lease_ms(context, settings),
                ttl_days=settings.delivery_ttl_days,
                client=consumer.dynamodb,
            )
    except ClientError as error:
        tally.count(provider, LEDGER_ERRORS)
        logger.warning("ledger write failed; the record will be retried", extra={"error_code": _code(error)})
        raise

    if claim.status is ledger.ClaimStatus.DUPLICATE:
        tally.count(provider, DUPLICATES_DROPPED)
        logger.info("duplicate delivery acknowledged", extra={"attempts": claim.attempts, "outcome": claim.outcome})
        return DUPLICATE
    if claim.status is ledger.ClaimStatus.CONFLICT:
        tally.count(provider, CLAIM_CONFLICTS)
        logger.warning(
            "delivery is being processed by another consumer; the record will be retried",
            extra={"lease_owner": claim.lease_owner, "lease_expires_at": claim.lease_expires_at},
        )
        raise ClaimConflict(f"held by {claim.lease_owner} until {claim.lease_expires_at}")
    if handler is None:
        tally.count(provider, DELIVERIES_SKIPPED)
        logger.info("no handler registered for this event type; delivery recorded as skipped")
        return SKIPPED

    try:
        raw = load_body(envelope, allowed_bucket=settings.overflow_bucket, client=consumer.s3)
        handler(build_event(envelope, raw, message_id=delivery.message_id, attempt=claim.attempts))
    except Exception as error:
        tally.count(provider, HANDLER_FAILURES)
        logger.exception(
            "delivery failed; recorded as failed, the record will be retried", extra={"attempts": claim.attempts}
        )
        _record_failure(settings.table_name, delivery, owner, error, consumer.dynamodb)
        raise

    done = consumer.clock()
    try:
        completed = ledger.complete_delivery(
            settings.table_name, delivery, owner=owner, now=done, client=consumer.dynamodb
        )
    except ClientError as error:
        tally.count(provider, LEDGER_ERRORS)
        logger.error(
            "the handler ran but its completion could not be recorded; it runs again after the lease expires",
            extra={"error_code": _code(error)},
        )
        raise
    if not completed:
        # The lease expired and another consumer claimed the delivery: it settles the ledger, not us.
        tally.count(provider, LEASE_LOST)
        logger.warning("the handler finished after its lease was taken over: it may have run twice")
        return PROCESSED
    tally.count(provider, DELIVERIES_PROCESSED)
    tally.lag(provider, (done - ledger.datetime_to_epoch(envelope.received_at)) * 1000)
    logger.debug("delivery processed", extra={"attempts": claim.attempts})
    return PROCESSED


def _record_duplicate_body(
    envelope: Envelope, delivery: ledger.Delivery, first_id: str, owner: str, consumer: Consumer, tally: BatchTally
) -> str:
    """The signed body was already received under ``first_id``: record this copy, run nothing, acknowledge it."""
    claim = ledger.record_duplicate_body(
        consumer.settings.table_name,
        delivery,
        duplicate_of=first_id,
        owner=owner,
        now=consumer.clock(),
        ttl_days=consumer.settings.delivery_ttl_days,
        client=consumer.dynamodb,
    )
    if claim.status is ledger.ClaimStatus.CONFLICT:
        tally.count(envelope.provider, CLAIM_CONFLICTS)
        raise ClaimConflict(f"held by {claim.lease_owner} until {claim.lease_expires_at}")
    tally.count(envelope.provider, DUPLICATES_DROPPED)
    logger.warning(
        "the same signed body was already received under another delivery id: not processed again",
        extra={"duplicate_of": first_id, "outcome": ledger.OUTCOME_DUPLICATE_BODY},
    )
    return DUPLICATE


def _record_failure(table_name: str, delivery: ledger.Delivery, owner: str, error: Exception, client: Any) -> None:
    """Best effort: if even this write fails, the lease expires and the delivery is claimable again anyway."""
    try:
        if not ledger.fail_delivery(table_name, delivery, owner=owner, error=error, client=client):
            logger.warning("could not record the failure: the lease was taken over by another consumer")
    except ClientError as ledger_error:
        logger.warning("could not record the failure in the ledger", extra={"error_code": _code(ledger_error)})


def _receive_count(record: SQSRecord) -> int:
    try:
        # The raw attribute (record.attributes builds a wrapper object per call, for one value).
        return int(record.raw_event["attributes"]["ApproximateReceiveCount"])
    except (KeyError, TypeError, ValueError):
        return 1


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
