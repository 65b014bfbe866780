"""One SQS record, start to finish: parse the envelope -> archive -> claim -> fetch the body -> dispatch -> complete.

Every record ends in exactly one of these ways (the return value, or the exception BatchProcessor turns into a
``batchItemFailures`` entry so that SQS redelivers only that record):

=================================  =====================================  ======================  ==================
situation                          ledger                                 SQS                     metric
=================================  =====================================  ======================  ==================
new delivery, handler returns      claim + complete -> processed/handled  acknowledged            DeliveriesProcessed
no handler registered              one write -> processed/skipped         acknowledged            DeliveriesSkipped
already processed                  one failed conditional write           acknowledged            DuplicatesDropped
same signed body, another id [1]_  body claim + one write -> duplicate_body  acknowledged          DuplicatesDropped
another consumer holds the lease   one failed conditional write           retried (short)         ClaimConflicts
ledger error (throttled, down)     nothing written                        retried (short)         LedgerErrors
archive write failed [2]_          nothing written                        retried (short)         ArchiveErrors
body unreadable or tampered        claim + fail -> failed, last_error     retried (short)         HandlerFailures
handler raises                     claim + fail -> failed, next_attempt   hidden for the retry    HandlerFailures,
                                                                          schedule's delay [3]_   RetriesScheduled
handler raises, out of attempts    claim + fail -> failed, dead_lettered  copied to the DLQ,      DeliveriesDead-
                                                                          acknowledged            Lettered
replay copy (hookctl replay)       claims even a processed delivery,      acknowledged            ReplaysProcessed
                                   once per replay request
older than its object's watermark  claim + watermark (failed) + complete  acknowledged            StaleEventsSkipped
(ordering guard [5]_)              -> processed/stale, stale_behind
matches EVENT_BUS_FILTER [6]_      claim + complete, published_at         acknowledged            EventsPublished
                                   (no handler: processed/published)
PutEvents fails or refuses it      claim + fail -> failed,                hidden for the retry    PublishFailures,
                                   handler_succeeded, next_attempt_at     schedule's delay        RetriesScheduled
backfill (``source: backfill``)    as a new delivery (same key as the     acknowledged            DeliveriesProcessed
                                   webhook: a later one is a duplicate)
malformed envelope (poison)        nothing (no trustworthy key)           retried -> DLQ          PoisonMessages
tap publish failed [4]_            unchanged (the delivery goes on)       unchanged               TapPublishFailures
any failure on the last receive    unchanged (failed)                     -> DLQ                  DeliveriesDeadLettered
=================================  =====================================  ======================  ==================

.. [1] Only for envelopes whose delivery id the provider does not sign (``delivery_id_signed`` false, e.g. GitHub):
   every such delivery first takes its body (``ledger.claim_body``, one more conditional write), so a captured body
   re-sent under a new id is acknowledged, recorded, and never handed to a handler.
.. [2] When the stack keeps an archive (``ARCHIVE_RETENTION_DAYS`` > 0): every delivery is archived before its claim
   (``archive.py``), so no delivery is recorded without its body; a replay copy is not archived again.
.. [3] ``retry.py``: ``ChangeMessageVisibility`` on the record, the schedule's step for this attempt (jittered), at
   most 12 h, never past the queue's retention (then it is dead-lettered at once). Only handler errors back off:
   everything else clears in seconds and keeps the queue's visibility timeout.
.. [4] Only with the listener tap on (``TAP_TOPIC_ARN``, template parameter ``ListenerTap``): each record is
   published to the tap's SNS topic on its first receive, before anything else (``tap.py``); a failed publish is
   counted and logged, and the record is processed as if the tap were off.
.. [5] Only on a route with ``ordered_by`` (``ordering.py``): after the claim and the body, before the handler, ONE
   conditional write moves the object's watermark (3 writes per guarded delivery instead of 2). A stale event is
   not run (or run with ``event.stale`` True and recorded ``stale_handled`` when the route says ``deliver_stale``).
   Replay copies are guarded too: replaying an old event after a newer one was applied records it stale.
.. [6] ``publishing.py``: after the handler, before the completion, ONE ``PutEvents`` call. A failure records that
   the handler succeeded, so the retry only publishes. A crash between PutEvents and the completion publishes twice.

Poison messages are reported as failures rather than dropped: after ``maxReceiveCount`` receives SQS moves them to
the DLQ, where they can be inspected and redriven once the receiver is fixed. Dropping them would lose deliveries
the provider was told we accepted. A delivery out of attempts is copied to the DLQ by the consumer itself (its
message body and attributes unchanged), so that ``MAX_ATTEMPTS`` decides, not the receives that conflicts and
throttling also consume; ``maxReceiveCount`` stays the safety net.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError
from pydantic import ValidationError

from webhook_gateway.consumer import archive, ledger, ordering, publishing, tap
from webhook_gateway.consumer.bodies import load_body
from webhook_gateway.consumer.events import WebhookEvent, build_event
from webhook_gateway.consumer.registry import Registry, Route
from webhook_gateway.consumer.settings import ConsumerSettings
from webhook_gateway.consumer.tally import (
    ARCHIVE_ERRORS,
    CLAIM_CONFLICTS,
    DELIVERIES_DEAD_LETTERED,
    DELIVERIES_PROCESSED,
    DELIVERIES_SKIPPED,
    DUPLICATES_DROPPED,
    EVENTS_PUBLISHED,
    HANDLER_FAILURES,
    LEASE_LOST,
    LEDGER_ERRORS,
    POISON_MESSAGES,
    PUBLISH_FAILURES,
    REPLAYS_PROCESSED,
    RETRIES_SCHEDULED,
    STALE_EVENTS_SKIPPED,
    TAP_PUBLISH_FAILURES,
    UNKNOWN_PROVIDER,
    BatchTally,
)
from webhook_gateway.envelope import SOURCE_BACKFILL, Envelope
from webhook_gateway.observability import logger
from webhook_gateway.observability import metrics as default_metrics

_RECORD_KEYS = ("provider", "delivery_id", "event_type", "message_id", "correlation_id")

# Record results (what BatchProcessor keeps as the success value).
PROCESSED = "processed"
SKIPPED = "skipped"
DUPLICATE = "duplicate"
DEAD_LETTERED = "dead_lettered"  # out of attempts: the consumer sent it to the DLQ itself, the record is acknowledged
STALE = "stale"  # older than its object's watermark (ordering guard): recorded, not run, acknowledged


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
    sqs: Any = None
    clock: Callable[[], float] = field(default=time.time)
    # The retry schedule's jitter (a float in [0, 1)); tests fix it.
    random: Callable[[], float] = field(default=random.random)
    # EventBridge (the EVENT_BUS_NAME destination); None: created on first use.
    events: Any = None
    # The listener tap's publisher (only with TAP_TOPIC_ARN); None: created on first use.
    sns: Any = None


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
        if receive_count == 1 and consumer.settings.tap_topic_arn:
            _tap(envelope, record, consumer, tally)
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


def _tap(envelope: Envelope, record: SQSRecord, consumer: Consumer, tally: BatchTally) -> None:
    """Publish the record to the listener tap (first receive only, before the handler). A failure is counted and
    logged, never raised: the tap is at most once, the delivery goes on (webhook_gateway.consumer.tap)."""
    try:
        tap.publish(consumer.settings.tap_topic_arn, record.body, envelope, client=consumer.sns)
    except Exception as error:
        tally.count(envelope.provider, TAP_PUBLISH_FAILURES)
        logger.warning(
            "could not publish the delivery to the listener tap; it is processed anyway",
            extra={"error_code": _code(error)},
        )


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
        replay_id=envelope.replay.id if envelope.replay is not None else None,
    )
    owner = lease_owner(context, delivery.message_id)
    route = consumer.registry.resolve_route(provider, envelope.event_type)
    publish = settings.publishes(provider, envelope.event_type)
    if settings.archive_enabled and envelope.replay is None:
        _archive(envelope, consumer, tally)

    claim = _claim(envelope, delivery, owner, route is not None or publish, consumer, tally, context)
    if isinstance(claim, str):
        return claim
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
    if route is None and not publish:
        tally.count(provider, DELIVERIES_SKIPPED)
        logger.info("no handler registered for this event type; delivery recorded as skipped")
        return SKIPPED
    if claim.run_attempts > settings.max_attempts:
        # The last allowed attempt already failed, and moving it to the DLQ did not complete: finish that now.
        return _dead_letter(record, delivery, owner, None, consumer, tally, handler_succeeded=claim.handler_succeeded)

    return _run_handler(route, publish, envelope, record, delivery, owner, claim, consumer, tally)


def _claim(
    envelope: Envelope,
    delivery: ledger.Delivery,
    owner: str,
    has_handler: bool,
    consumer: Consumer,
    tally: BatchTally,
    context: Any,
) -> ledger.Claim | str:
    """The ledger's claim on the delivery (a str: the record's result when the body was already taken)."""
    settings = consumer.settings
    try:
        # A replay was asked for by an operator, for this very id: the body check against other ids does not apply.
        if not envelope.delivery_id_signed and envelope.replay is None:
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
        if not has_handler:
            return ledger.record_skipped(
                settings.table_name,
                delivery,
                owner=owner,
                now=consumer.clock(),
                ttl_days=settings.delivery_ttl_days,
                client=consumer.dynamodb,
            )
        return ledger.claim_delivery(
            settings.table_name,
            delivery,
            owner=owner,
            now=consumer.clock(),
            lease_ms=lease_ms(context, settings),
            ttl_days=settings.delivery_ttl_days,
            client=consumer.dynamodb,
        )
    except ClientError as error:
        tally.count(envelope.provider, LEDGER_ERRORS)
        logger.warning("ledger write failed; the record will be retried", extra={"error_code": _code(error)})
        raise


def _run_handler(
    route: Route | None,
    publish: bool,
    envelope: Envelope,
    record: SQSRecord,
    delivery: ledger.Delivery,
    owner: str,
    claim: ledger.Claim,
    consumer: Consumer,
    tally: BatchTally,
) -> str:
    """Load the body, pass the ordering guard (a guarded route), run the handler (unless an earlier attempt's already
    succeeded), publish to the event bus (when it matches), complete; return the record's result. A failure is
    recorded and either raised (the record is retried: after the schedule's delay for a handler or publishing error)
    or, out of attempts, dead-lettered."""
    settings = consumer.settings
    try:
        raw = load_body(envelope, allowed_buckets=settings.body_buckets, client=consumer.s3)
    except Exception as error:
        # Not the handler's failure: the queue's short retry, no backoff.
        tally.count(delivery.provider, HANDLER_FAILURES)
        logger.exception("the delivery's body could not be loaded; the record will be retried")
        _record_failure(settings.table_name, delivery, owner, error, consumer.dynamodb)
        raise
    newer: ordering.Watermark | None = None
    try:
        # A body that does not parse, and an extractor that raises (user code), fail like the handler.
        event = build_event(envelope, raw, message_id=delivery.message_id, attempt=claim.attempts)
        if route is not None and route.ordered_by is not None:
            # Also on a retry that only publishes: the same version again is idempotent, and it labels the outcome.
            newer = _check_order(route, event, consumer, tally)
        if route is not None and not claim.handler_succeeded:
            if newer is None:
                route.handler(event)
            elif route.deliver_stale:
                route.handler(event.model_copy(update={"stale": True}))
    except WatermarkUnavailable as error:
        # A ledger error, not the handler's: the queue's short retry, no backoff.
        _record_failure(settings.table_name, delivery, owner, error, consumer.dynamodb)
        raise
    except Exception as error:
        tally.count(delivery.provider, HANDLER_FAILURES)
        return _retry_later(error, record, delivery, owner, claim, consumer, tally)
    if newer is not None:
        # Never the payload: which delivery's newer version was applied, and whether the handler saw this one.
        logger.info(
            "stale event: a newer version of its object was already applied",
            extra={"stale_behind": newer.delivery_id, "deliver_stale": route is not None and route.deliver_stale},
        )
    published_at = None
    if publish:
        entry = publishing.build_entry(event, bus=settings.event_bus_name, archive=_archive_pointer(envelope, settings))
        try:
            publishing.publish(entry, client=consumer.events)
        except publishing.PublishFailed as error:
            tally.count(delivery.provider, PUBLISH_FAILURES)
            succeeded = route is not None
            return _retry_later(error, record, delivery, owner, claim, consumer, tally, handler_succeeded=succeeded)
        published_at = consumer.clock()
        tally.count(delivery.provider, EVENTS_PUBLISHED)
    outcome = _outcome(route, newer)
    return _complete(envelope, delivery, owner, claim, consumer, tally, outcome=outcome, stale_behind=newer,
                     published_at=published_at)


def _outcome(route: Route | None, newer: ordering.Watermark | None) -> str:
    if route is None:
        return ledger.OUTCOME_PUBLISHED
    if newer is None:
        return ledger.OUTCOME_HANDLED
    return ledger.OUTCOME_STALE_HANDLED if route.deliver_stale else ledger.OUTCOME_STALE


def _retry_later(
    error: Exception,
    record: SQSRecord,
    delivery: ledger.Delivery,
    owner: str,
    claim: ledger.Claim,
    consumer: Consumer,
    tally: BatchTally,
    *,
    handler_succeeded: bool = False,
) -> str:
    """A handler (or publishing) failure: the retry schedule's next step, or, out of attempts, the DLQ. Raises to
    have the record retried; returns DEAD_LETTERED when it was moved to the DLQ."""
    settings = consumer.settings
    handler_succeeded = handler_succeeded or claim.handler_succeeded
    delay = settings.retry_policy.delay_after(claim.run_attempts, consumer.random)
    if delay is not None and not _back_before_retention_ends(record, delay, consumer):
        delay = None  # SQS would delete the message while it waits: dead-letter it now instead
    if delay is None:
        logger.exception(
            "delivery failed; recorded as failed, out of attempts: moving it to the DLQ",
            extra={"attempts": claim.attempts},
        )
        return _dead_letter(record, delivery, owner, error, consumer, tally, handler_succeeded=handler_succeeded)
    logger.exception(
        "delivery failed; recorded as failed, the record will be retried", extra={"attempts": claim.attempts}
    )
    _schedule_retry(
        record, delivery, owner, error, delay, claim.run_attempts, consumer, tally, handler_succeeded=handler_succeeded
    )
    raise error


def _archive_pointer(envelope: Envelope, settings: ConsumerSettings) -> dict[str, Any] | None:
    """Where the archive keeps this delivery's exact body (archive.py's rule), for an entry too large to carry it."""
    if not settings.archive_enabled:
        return None
    if envelope.body_ref is None and envelope.body_size <= settings.archive_inline_max_bytes:
        key = archive.archive_key(envelope.provider, envelope.delivery_id)
        return {"table": settings.table_name, "provider": key[ledger.PK]["S"], "delivery_id": key[ledger.SK]["S"]}
    return {"bucket": settings.archive_bucket, "key": archive.object_key(envelope.provider, envelope.body_sha256)}


class WatermarkUnavailable(Exception):
    """The ordering guard's watermark could not be written (throttled, down): the record is retried shortly."""


def _check_order(route: Route, event: WebhookEvent, consumer: Consumer, tally: BatchTally) -> ordering.Watermark | None:
    """The ordering guard: ONE conditional write on the object's watermark. None: the event is current (or not
    guarded: the extractor returned None); else the newer watermark that makes it stale. A ledger error is counted
    and raised as :class:`WatermarkUnavailable` (the record's short retry); an extractor's error is raised as is."""
    assert route.ordered_by is not None
    version = route.ordered_by(event)
    if version is None:
        return None
    try:
        return ordering.advance_watermark(
            consumer.settings.table_name,
            route.order_namespace or event.provider,
            version,
            delivery_id=event.delivery_id,
            event_type=event.event_type,
            now=consumer.clock(),
            ttl_days=consumer.settings.watermark_ttl_days,
            client=consumer.dynamodb,
        )
    except ClientError as error:
        tally.count(event.provider, LEDGER_ERRORS)
        logger.warning(
            "the ordering watermark could not be written; the record will be retried",
            extra={"error_code": _code(error)},
        )
        raise WatermarkUnavailable(f"watermark write failed: {_code(error)}") from error


def _complete(
    envelope: Envelope,
    delivery: ledger.Delivery,
    owner: str,
    claim: ledger.Claim,
    consumer: Consumer,
    tally: BatchTally,
    *,
    outcome: str = ledger.OUTCOME_HANDLED,
    stale_behind: ordering.Watermark | None = None,
    published_at: float | None = None,
) -> str:
    provider = envelope.provider
    done = consumer.clock()
    try:
        completed = ledger.complete_delivery(
            consumer.settings.table_name,
            delivery,
            owner=owner,
            now=done,
            outcome=outcome,
            stale_behind=None if stale_behind is None else stale_behind.delivery_id,
            published_at=published_at,
            client=consumer.dynamodb,
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
    if outcome == ledger.OUTCOME_STALE:
        tally.count(provider, STALE_EVENTS_SKIPPED)
        return STALE
    tally.count(provider, DELIVERIES_PROCESSED)
    if envelope.replay is not None:
        # A replay's age is the operator's, not the pipeline's: it stays out of the end-to-end lag.
        tally.count(provider, REPLAYS_PROCESSED)
        logger.info("replayed delivery processed", extra={"replay_id": envelope.replay.id})
        return PROCESSED
    if envelope.source == SOURCE_BACKFILL:
        # Queued by the reconciler from the provider's API: rare, and worth a line.
        logger.info("backfilled delivery processed", extra={"source": envelope.source})
    tally.lag(provider, (done - ledger.datetime_to_epoch(envelope.received_at)) * 1000)
    if claim.attempts > 1:
        # Rare, and it closes the "waiting for a retry" line of the dashboard: worth an INFO line.
        logger.info("delivery processed after a retry", extra={"attempts": claim.attempts})
    else:
        logger.debug("delivery processed")
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


def _archive(envelope: Envelope, consumer: Consumer, tally: BatchTally) -> None:
    """Archive before claiming: a failure leaves nothing claimed, and the record keeps the short retry."""
    settings = consumer.settings
    try:
        archive.archive_delivery(
            envelope,
            table_name=settings.table_name,
            bucket=settings.archive_bucket,
            now=consumer.clock(),
            retention_days=settings.archive_retention_days,
            inline_max_bytes=settings.archive_inline_max_bytes,
            dynamodb=consumer.dynamodb,
            s3=consumer.s3,
        )
    except Exception as error:
        tally.count(envelope.provider, ARCHIVE_ERRORS)
        logger.warning(
            "the delivery could not be archived; the record will be retried", extra={"error_code": _code(error)}
        )
        raise


# A retry must come back this long before the queue's retention ends (a receive, a batch, a handler run).
RETENTION_MARGIN_SECONDS = 3_600


def _back_before_retention_ends(record: SQSRecord, delay: int, consumer: Consumer) -> bool:
    """Whether the message, hidden for ``delay`` seconds, still has time left in the queue when it comes back."""
    try:
        sent_at = int(record.raw_event["attributes"]["SentTimestamp"]) / 1000
    except (KeyError, TypeError, ValueError):
        return True  # no timestamp (a hand-made event): the settings already fit the schedule in the retention
    expires_at = sent_at + consumer.settings.queue_retention_seconds
    return consumer.clock() + delay + RETENTION_MARGIN_SECONDS < expires_at


def _schedule_retry(
    record: SQSRecord,
    delivery: ledger.Delivery,
    owner: str,
    error: Exception,
    delay: int,
    attempt: int,
    consumer: Consumer,
    tally: BatchTally,
    *,
    handler_succeeded: bool = False,
) -> None:
    """Record when the next attempt is due, then hide the message until then (best effort: if SQS refuses, the
    queue's visibility timeout brings it back sooner, which is safe)."""
    settings = consumer.settings
    next_attempt_at = consumer.clock() + delay
    _record_failure(
        settings.table_name,
        delivery,
        owner,
        error,
        consumer.dynamodb,
        next_attempt_at=next_attempt_at,
        handler_succeeded=handler_succeeded,
    )
    if not settings.queue_url:
        return
    try:
        _sqs(consumer).change_message_visibility(
            QueueUrl=settings.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
        )
    except Exception as sqs_error:
        logger.warning(
            "could not delay the retry; it comes back after the queue's visibility timeout",
            extra={"error_code": _code(sqs_error)},
        )
        return
    tally.count(delivery.provider, RETRIES_SCHEDULED)
    logger.warning(
        "retry scheduled",
        extra={
            "attempt": attempt,
            "delay_seconds": delay,
            "next_attempt_at": ledger.iso_utc(next_attempt_at),
        },
    )


def _dead_letter(
    record: SQSRecord,
    delivery: ledger.Delivery,
    owner: str,
    error: Exception | None,
    consumer: Consumer,
    tally: BatchTally,
    *,
    handler_succeeded: bool = False,
) -> str:
    """Out of attempts: record it, copy the message to the DLQ unchanged, acknowledge it. Without a DLQ URL (or if
    the copy fails) the record is reported failed and SQS's redrive policy takes over."""
    settings = consumer.settings
    now = consumer.clock()
    _record_failure(
        settings.table_name,
        delivery,
        owner,
        error,
        consumer.dynamodb,
        dead_lettered_at=now,
        handler_succeeded=handler_succeeded,
    )
    if not settings.dead_letter_queue_url:
        raise RetriesExhausted("out of attempts and no DEAD_LETTER_QUEUE_URL: left to the redrive policy")
    params: dict[str, Any] = {"QueueUrl": settings.dead_letter_queue_url, "MessageBody": record.body}
    attributes = _message_attributes(record)
    if attributes:
        params["MessageAttributes"] = attributes
    try:
        _sqs(consumer).send_message(**params)
    except Exception as sqs_error:
        logger.error(
            "could not move the delivery to the DLQ; the record will be retried", extra={"error_code": _code(sqs_error)}
        )
        raise RetriesExhausted("out of attempts; the copy to the DLQ failed") from sqs_error
    tally.count(delivery.provider, DELIVERIES_DEAD_LETTERED)
    logger.error("delivery out of attempts: moved to the DLQ", extra={"max_attempts": settings.max_attempts})
    return DEAD_LETTERED


class RetriesExhausted(Exception):
    """The delivery used every attempt and could not be moved to the DLQ by the consumer: SQS retries the record."""


def _message_attributes(record: SQSRecord) -> dict[str, dict[str, str]]:
    """The record's string attributes in SendMessage's shape (Lambda's event spells them in camelCase)."""
    found: dict[str, dict[str, str]] = {}
    for name, value in (record.raw_event.get("messageAttributes") or {}).items():
        text = value.get("stringValue")
        if text is not None:
            found[name] = {"DataType": value.get("dataType", "String"), "StringValue": text}
    return found


def _sqs(consumer: Consumer) -> Any:
    return consumer.sqs if consumer.sqs is not None else default_sqs_client()


@cache
def default_sqs_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2))


def _record_failure(
    table_name: str,
    delivery: ledger.Delivery,
    owner: str,
    error: Exception | None,
    client: Any,
    *,
    next_attempt_at: float | None = None,
    dead_lettered_at: float | None = None,
    handler_succeeded: bool = False,
) -> None:
    """Best effort: if even this write fails, the lease expires and the delivery is claimable again anyway."""
    try:
        settled = ledger.fail_delivery(
            table_name,
            delivery,
            owner=owner,
            error=error,
            next_attempt_at=next_attempt_at,
            dead_lettered_at=dead_lettered_at,
            handler_succeeded=handler_succeeded,
            client=client,
        )
        if not settled:
            logger.warning("could not record the failure: the lease was taken over by another consumer")
    except ClientError as ledger_error:
        logger.warning("could not record the failure in the ledger", extra={"error_code": _code(ledger_error)})


def _receive_count(record: SQSRecord) -> int:
    try:
        # The raw attribute (record.attributes builds a wrapper object per call, for one value).
        return int(record.raw_event["attributes"]["ApproximateReceiveCount"])
    except (KeyError, TypeError, ValueError):
        return 1


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(error).__name__
