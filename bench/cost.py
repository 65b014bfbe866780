"""What a million webhook deliveries cost on AWS, with and without the archive, next to hosted gateways.

    .venv/bin/python -m bench.cost [--deliveries N] [--size BYTES ...] [--mix SIZE:WEIGHT,...] [--batch-size N]
                                   [--retention-days D] [--archive both|on|off] [--inline-max-bytes B] ...

Pure arithmetic: no AWS call. Every unit price is in PRICES below (us-east-1, with the page it comes from and whether
it was checked); every figure measured in this repository is in the MEASURED block (with the command and the date);
every figure that cannot be measured here (AWS round-trip latencies, Lambda's CPU share, sampling, environment
counts) is in the ASSUMED block, with where it comes from. The output is Markdown: docs/cost.md pastes it.

The model, per delivery (a new delivery, warm receiver, no retry):

* receiver: one HTTP API request, one Lambda invocation (CPU time measured by bench/cost_inputs.py, scaled to the
  function's CPU share, plus one SQS SendMessage round trip), one SendMessage billed per 64 KiB chunk;
* consumer: a share of one Lambda invocation per batch (CPU measured, plus the DynamoDB round trips), a share of one
  ReceiveMessage (billed per 64 KiB chunk of the whole batch) and one DeleteMessageBatch per batch; the ledger's
  claim and completion (2 table write units and 5 index write units: see LEDGER_WRITE_UNITS);
* archive on: before the claim, one UpdateItem of the archive item (metadata, and the body when it is at most
  ARCHIVE_INLINE_MAX_BYTES) or, above that, the metadata item plus one S3 PutObject; storage for the retention;
* CloudWatch: the log bytes both functions write (measured) and Lambda's/API Gateway's own lines (assumed);
  X-Ray traces (the template sets ``Tracing: Active``);
* fixed per month: secrets, GetSecretValue per warm environment, custom metrics, alarms, the dashboard, the alarm
  topic's KMS key, the event source's empty polls, cold starts.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# ---------------------------------------------------------------------------------------------------------------
# Prices: us-east-1, list prices without free tiers (a free tier is per account and shared with everything else).
# "checked" names the stored copy the price was read in with the search tool on 2026-12-01; "unverified" means it
# is written from memory and must be checked on the pricing page before anyone relies on it.

REGION = "us-east-1"
PRICES_READ_ON = "2026-12-01"


@dataclass(frozen=True)
class Price:
    usd: float  # per unit below
    unit: str
    page: str  # the AWS pricing page that states it
    checked: str  # where it was read, or "from memory, unverified"


GB = 1024**3  # AWS bills storage and data in GB of 2^30 bytes
HOURS_PER_MONTH = 730.0  # AWS's own monthly convention in its pricing examples
DAYS_PER_MONTH = 365.25 / 12
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

PRICES: dict[str, Price] = {
    "apigw_request": Price(
        1.00 / 1e6,
        "HTTP API request (first 300 M a month), metered in 512 KB increments",
        "Amazon API Gateway pricing, HTTP APIs",
        "checked: AWS whitepaper 'Best Practices for Designing Amazon API Gateway Private APIs', table 4 "
        "(docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html)",
    ),
    "data_transfer_out_gb": Price(
        0.09,
        "GB to the internet (first 10 TB a month)",
        "Amazon EC2 pricing, data transfer",
        "checked: apigatewaycost.com/aws (third party, 'Data transfer (outbound) $0.09/GB')",
    ),
    "lambda_request": Price(
        0.20 / 1e6,
        "Lambda invocation",
        "AWS Lambda pricing",
        "checked: lambda_local_runner docs 'lambda-13-cost.md' and cloudchipr.com (third party)",
    ),
    "lambda_arm_gb_second": Price(
        0.0000133334,
        "GB-second, arm64 (first 7.5 billion GB-s a month)",
        "AWS Lambda pricing",
        "checked: cloudchipr.com/blog/aws-lambda-pricing (third party, 'First 7.5 Billion GB-seconds')",
    ),
    "sqs_request": Price(
        0.40 / 1e6,
        "SQS standard request; each 64 KiB chunk of a payload is one request",
        "Amazon SQS pricing",
        "checked: unanswered.io and factualminds.com SQS pricing guides (third party, the 64 KB rule)",
    ),
    "dynamodb_wru": Price(
        0.625 / 1e6,
        "on-demand write request unit (1 KB)",
        "Amazon DynamoDB pricing, on-demand",
        "checked: airbyte.com/data-engineering-resources/dynamodb-pricing (third party, 'US East')",
    ),
    "dynamodb_rru": Price(
        0.125 / 1e6,
        "on-demand read request unit (4 KB strongly consistent)",
        "Amazon DynamoDB pricing, on-demand",
        "checked: same page as the write unit",
    ),
    "dynamodb_storage_gb_month": Price(
        0.25,
        "GB-month, Standard table class (item + 100 bytes)",
        "Amazon DynamoDB pricing, data storage",
        "checked: aws.amazon.com/dynamodb/pricing/ (stored copy: 'prices start from $0.25 per GB-month')",
    ),
    "dynamodb_pitr_gb_month": Price(
        0.20,
        "GB-month of continuous backups (PITR): table + local indexes, not GSIs",
        "Amazon DynamoDB pricing, backup and restore",
        "checked: finops.com.py/services/dynamodb/backups (third party, '$0.20 per GB-month'); what it is charged on: "
        "DynamoDB developer guide, Point-in-time-recovery ('based on the size of table and local secondary indexes')",
    ),
    "s3_put": Price(
        0.005 / 1000,
        "S3 Standard PUT request",
        "Amazon S3 pricing, requests",
        "from memory, unverified",
    ),
    "s3_get": Price(
        0.0004 / 1000,
        "S3 Standard GET request",
        "Amazon S3 pricing, requests",
        "from memory, unverified",
    ),
    "s3_storage_gb_month": Price(
        0.023,
        "GB-month, S3 Standard (first 50 TB)",
        "Amazon S3 pricing, storage",
        "checked: cloudburn.io/blog/amazon-s3-pricing (third party, 'S3 Standard costs $0.023/GB/month')",
    ),
    "secret_month": Price(
        0.40,
        "secret per month",
        "AWS Secrets Manager pricing",
        "checked: hivebook.wiki AWS Secrets Manager page (third party, '$0.40 per secret per month')",
    ),
    "secrets_api_call": Price(
        0.05 / 10_000,
        "Secrets Manager API call",
        "AWS Secrets Manager pricing",
        "checked: same page ('$0.05 per 10k API calls')",
    ),
    "logs_ingest_gb": Price(
        0.50,
        "GB of logs ingested (Standard class; Lambda's first tier)",
        "Amazon CloudWatch pricing, logs",
        "checked: factualminds.com CloudWatch pricing guide (third party, 'Logs ingestion at $0.50/GB')",
    ),
    "logs_storage_gb_month": Price(
        0.03,
        "GB-month of archived (compressed) logs",
        "Amazon CloudWatch pricing, logs",
        "from memory, unverified",
    ),
    "custom_metric_month": Price(
        0.30,
        "custom metric per month (first 10,000), prorated by the hour",
        "Amazon CloudWatch pricing, metrics",
        "checked: signoz.io/guides/cloudwatch-pricing (third party, '$0.30/month for the first 10,000')",
    ),
    "alarm_metric_month": Price(
        0.10,
        "standard-resolution alarm metric per month",
        "Amazon CloudWatch pricing, alarms",
        "from memory, unverified",
    ),
    "dashboard_month": Price(
        3.00,
        "custom dashboard per month",
        "Amazon CloudWatch pricing, dashboards",
        "checked: factualminds.com CloudWatch pricing guide (third party, 'dashboards at $3 each')",
    ),
    "xray_trace": Price(
        5.00 / 1e6,
        "X-Ray trace recorded",
        "AWS X-Ray pricing",
        "checked: aws.amazon.com/de/xray/pricing/ (stored copy: 5 USD per million recorded traces)",
    ),
    "kms_key_month": Price(
        1.00,
        "customer managed KMS key per month",
        "AWS KMS pricing",
        "from memory, unverified",
    ),
}

# ---------------------------------------------------------------------------------------------------------------
# Measured here, 2026-12-01, on the 2-vCPU x86_64 development container (Python 3.11.7), by
#   .venv/bin/python -m bench.cost_inputs --deliveries 200
# (the real receiver handler and consumer pipeline in process, fake AWS clients; see that script's docstring).

MEASURED_ON = "2026-12-01"
MEASURED_BY = ".venv/bin/python -m bench.cost_inputs --deliveries 200"

# Receiver CPU time per warm delivery (µs, median of rounds, GitHub push bodies), by body size in bytes.
RECEIVER_CPU_US: dict[int, float] = {1024: 202, 4096: 259, 16384: 484, 65536: 1233}
# What the receiver sends to SQS: message body + message attributes, in bytes, by body size (the body is a JSON string
# inside the envelope, so its quotes are escaped: a 64 KiB GitHub body makes a 72 KB message, two 64 KiB chunks).
RECEIVER_SQS_MESSAGE_BYTES: dict[int, float] = {
    1024: 1824 + 128,
    4096: 5176 + 128,
    16384: 18641 + 128,
    65536: 72385 + 128,
}
# stdout per warm delivery: the "delivery accepted" INFO line + one EMF document (2 lines), the same at every size.
RECEIVER_LOG_BYTES = 1140
# Consumer, per new delivery, by batch size: stdout bytes (one EMF document per provider per batch, nothing else at
# INFO when no record fails) and CPU µs per record (fake DynamoDB, a handler that does nothing). A straight line through
# the two points gives the per-invocation and per-record parts.
CONSUMER_LOG_BYTES_PER_DELIVERY: dict[int, float] = {1: 345, 10: 51}
CONSUMER_CPU_US_PER_DELIVERY: dict[int, float] = {1: 178, 10: 95}


def _per_invocation_and_per_record(per_delivery: Mapping[int, float]) -> tuple[float, float]:
    """(fixed, per record) of ``fixed + n * per_record = n * per_delivery[n]`` through the two measured batch sizes."""
    (small, at_small), (large, at_large) = sorted(per_delivery.items())
    per_record = (large * at_large - small * at_small) / (large - small)
    return small * at_small - small * per_record, per_record


CONSUMER_LOG_BYTES_PER_BATCH, CONSUMER_LOG_BYTES_PER_RECORD = _per_invocation_and_per_record(
    CONSUMER_LOG_BYTES_PER_DELIVERY
)
CONSUMER_CPU_US_PER_INVOCATION, CONSUMER_CPU_US_PER_RECORD = _per_invocation_and_per_record(
    CONSUMER_CPU_US_PER_DELIVERY
)
# A ledger item after completion, by DynamoDB's item-size rules (names + values): well under 1 KB, so 1 unit a write.
LEDGER_ITEM_BYTES = 342
# The archive item the consumer writes (webhook_gateway.consumer.archive.archive_delivery, main 91535ec, on the
# DynamoDB fake) for the real receiver's GitHub envelope: the body + 929 bytes when the body is inline (the envelope's
# JSON without its body is 700 bytes: ids, times, 7 forwarded headers, sha256, size; then the sha256 and size again,
# archived_at, expires_at, names and keys), and 1,057 bytes when it points at an S3 object (a 42-character
# CloudFormation bucket name and the <provider>/<sha256> key): just over 1 KB, so 2 write units.
ARCHIVE_METADATA_BYTES = 929
ARCHIVE_S3_ITEM_BYTES = 1057

# ---------------------------------------------------------------------------------------------------------------
# Assumed: what cannot be measured in this container. Change them on the command line or here, and say why.

# Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB (AWS Lambda developer guide,
# "Configuring function memory"; quoted by the third-party lambda-13-cost.md page found with the search tool).
# Measured CPU time is divided by this share: an upper bound (a short burst may get more), and it takes this x86_64
# container's speed for Graviton's (unverified).
FULL_VCPU_MB = 1769
RECEIVER_MEMORY_MB = 256  # template.yaml Globals MemorySize
CONSUMER_MEMORY_MB = 256  # the consumer inherits Globals
# In-region round trips from Lambda (p50), not measurable here: DynamoDB's "single-digit millisecond" claim (AWS
# DynamoDB product page, stored copy seen with the search tool) and common reports for SQS and S3; replace them with
# the deployed stack's X-Ray subsegments.
SQS_SEND_MS = 8.0
DYNAMODB_WRITE_MS = 5.0
S3_PUT_MS = 25.0
# The request as API Gateway meters it: body + headers (assumed 1.5 KB of headers); the 202 response with headers.
REQUEST_HEADER_BYTES = 1536
RESPONSE_BYTES = 300
# Lambda's own lines per invocation (START, END, REPORT with the XRAY segment): their documented text format, about
# 60 + 50 + 250 bytes. The HTTP API access log line (template AccessLogSettings format) with typical values: ~450.
LAMBDA_PLATFORM_LOG_BYTES = 360
API_ACCESS_LOG_BYTES = 450
LOGS_COMPRESSION = 0.15  # archived log storage is billed compressed; JSON lines compress ~6-7x (assumption)
# The ledger (design of issue 11): claim UpdateItem + completion UpdateItem on the table (1 unit each: the item is
# LEDGER_ITEM_BYTES), and per GSI with projection ALL: by-status (HASH status) takes a put at the claim and a delete +
# a put at completion (status is its key: "two writes are required, one to delete the previous item from the index
# and another write to put the new item into the index", DynamoDB developer guide, GSI.html#GSI.Writes, as quoted on
# re:Post QU2yF7CynBThyPzvg4szJAQA); by-provider (HASH provider, RANGE last_attempt_at) a put and an update.
LEDGER_TABLE_WRITE_UNITS = 2
LEDGER_INDEX_WRITE_UNITS = 3 + 2
LEDGER_INDEXES = 2  # both project ALL: each stores a copy of the ledger item
DYNAMODB_ITEM_OVERHEAD_BYTES = 100  # storage is billed on item size + 100 bytes (DynamoDB pricing page)
DYNAMODB_ITEM_LIMIT = 400 * 1024
# Lambda's SQS event source long-polls (20 s) with several pollers even when the queue is empty; 5 pollers assumed
# (Lambda starts with five; from memory, unverified): 5 x 180 empty receives an hour.
EMPTY_RECEIVES_PER_HOUR = 5 * 180
# X-Ray sampling of Lambda's active tracing: the default rule records the first request each second and 5 % of the
# others (tsypuk.github.io "AWS XRAY tracing. Part 3"; per function for Lambda: assumption). Each receiver
# invocation and each consumer invocation counted as its own trace.
XRAY_RESERVOIR_PER_SECOND = 1.0
XRAY_FIXED_RATE = 0.05
# Execution environments: one warm receiver environment per deployed provider (low volume: one request at a time), and
# a new one every ENVIRONMENT_LIFETIME_HOURS (Lambda recycles environments; AWS publishes no lifetime: assumption).
ENVIRONMENT_LIFETIME_HOURS = 2.0
# A cold start's billed init (Lambda bills INIT since 2025-08, from memory, unverified): the measured cold start of
# the shipped layer on a full vCPU (docs/performance.md: 320 ms) at the 256 MB share.
COLD_START_FULL_VCPU_MS = 320.0
# Metrics published every hour per active provider: receiver DeliveriesReceived, DeliveriesEnqueued,
# VerifiedWithCurrentSecret; consumer DeliveriesProcessed, EndToEndLagMs (EMF, tests/contract/scenarios.py lists
# them); the HTTP API's detailed route metrics (Count, 4xx, 5xx, Latency, IntegrationLatency, DataProcessed: 6, from
# memory). Occasional ones (ColdStart, DuplicatesDropped, rejections, failures, RetriesScheduled, ArchiveErrors, ...)
# assumed: 3 per provider, present 10 % of the hours.
STEADY_METRICS_PER_PROVIDER = 3 + 2 + 6
OCCASIONAL_METRICS_PER_PROVIDER = 3
OCCASIONAL_METRIC_HOURS = 0.10
# Alarms after `python -m tools.expand_template` with the 15 providers: 24 alarms. 22 list their metrics: 23 alarm
# metrics, of which 15 are the per-receiver throttles alarms (one per provider) and 8 the others (the 5xx-rate alarm
# has two). 2 are Metrics Insights queries over every provider's metric (counted as one alarm metric per provider:
# assumption).
ALARM_METRICS = 8
ALARM_METRICS_PER_PROVIDER = 1
QUERY_ALARMS = 2
DEFAULT_PROVIDERS = 15  # the template's Receivers list

HOSTED_READ_ON = "2026-12-01"


@dataclass(frozen=True)
class HostedPlan:
    vendor: str
    plan: str
    monthly_usd: float | None  # None: not published
    included: int
    per_extra_event_usd: float
    retention: str
    source: str

    def price(self, deliveries: int) -> float | None:
        if self.monthly_usd is None:
            return None
        return self.monthly_usd + max(0, deliveries - self.included) * self.per_extra_event_usd


# Published prices, as transcribed from each vendor's pricing page by the API Evangelist profiles (generated
# 2026-09-20, "every price_text was found verbatim in the fetched page text"), read with the search tool on
# 2026-12-01. "Starts at" prices: lower bounds. Nothing here is invented: where no price is published, None.
HOSTED: tuple[HostedPlan, ...] = (
    HostedPlan(
        "Hookdeck",
        "Team",
        39.0,
        10_000,
        1.00 / 100_000,
        "7 days",
        "hookdeck.com/pricing via github.com/api-evangelist/hookdeck plans/hookdeck-plans-pricing.yml",
    ),
    HostedPlan(
        "Hookdeck",
        "Growth",
        499.0,
        10_000,
        1.00 / 100_000,
        "30 days",
        "hookdeck.com/pricing via github.com/api-evangelist/hookdeck plans/hookdeck-plans-pricing.yml",
    ),
    HostedPlan(
        "Svix",
        "Free (messages; Ingest not priced separately)",
        0.0,
        50_000,
        0.0001,
        "30 days",
        "svix.com/pricing via github.com/api-evangelist/svix plans/svix-plans-pricing.yml",
    ),
    HostedPlan(
        "Svix",
        "Professional",
        490.0,
        50_000,
        0.0001,
        "90 days",
        "svix.com/pricing via github.com/api-evangelist/svix plans/svix-plans-pricing.yml",
    ),
    HostedPlan(
        "Convoy",
        "Cloud",
        None,
        0,
        0.0,
        "-",
        "getconvoy.io/pricing via github.com/api-evangelist/convoy: cloud prices not in the page text "
        "(self-hosted Premium licence $999/month)",
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Inputs:
    deliveries: int = 1_000_000  # per month
    batch_size: int = 10
    retention_days: float = 30.0  # ArchiveRetentionDays
    ledger_ttl_days: float = 30.0  # DeliveryTtlDays
    log_retention_days: float = 30.0  # LogRetentionDays
    inline_max_bytes: int | None = None  # ARCHIVE_INLINE_MAX_BYTES; None: the computed break-even
    pitr: bool = True  # the template enables point-in-time recovery on the table
    providers: int = DEFAULT_PROVIDERS
    secret_max_age_seconds: float = 300.0  # SecretMaxAgeSeconds
    unsigned_id_share: float = 0.0  # share of deliveries whose id is not signed (GitHub): +1 body-claim write
    sqs_send_ms: float = SQS_SEND_MS
    dynamodb_write_ms: float = DYNAMODB_WRITE_MS
    s3_put_ms: float = S3_PUT_MS
    handler_ms: float = 0.0  # the user's own handler time per record (not the gateway's): 0 by default
    archive_metadata_bytes: int = ARCHIVE_METADATA_BYTES  # provider-dependent (its forwarded headers)
    archive_s3_item_bytes: int = ARCHIVE_S3_ITEM_BYTES
    prices: Mapping[str, Price] = field(default_factory=lambda: PRICES)

    def usd(self, name: str) -> float:
        return self.prices[name].usd

    @property
    def retention_months(self) -> float:
        return self.retention_days / DAYS_PER_MONTH

    @property
    def dynamodb_storage_usd_per_byte_month(self) -> float:
        rate = self.usd("dynamodb_storage_gb_month") + (self.usd("dynamodb_pitr_gb_month") if self.pitr else 0.0)
        return rate / GB


def _attribute_value_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value (the developer guide's item-size rules; numbers approximated as
    1 byte per two significant digits + 1)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "B":
        return len(inner)
    if kind == "N":
        return (len(str(inner).strip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + _attribute_value_size(item) + 1 for name, item in inner.items())
    if kind == "L":
        return 3 + sum(_attribute_value_size(item) + 1 for item in inner)
    if kind in ("SS", "BS", "NS"):
        return sum(_attribute_value_size({kind[0]: item}) for item in inner)
    raise ValueError(kind)


def dynamodb_item_size(item: dict[str, Any]) -> int:
    """Bytes of a DynamoDB item as write units count them: attribute names + values (no per-item overhead)."""
    return sum(len(name.encode("utf-8")) + _attribute_value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class GsiSchema:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...] = ()

    def key_of(self, item: dict[str, Any] | None) -> tuple | None:
        if not item or any(name not in item for name in self.keys):
            return None
        return tuple(repr(item[name]) for name in self.keys)

    def projected(self, item: dict[str, Any], table_keys: tuple[str, ...]) -> dict[str, Any]:
        if self.projection == "ALL":
            return item
        names = set(self.keys) | set(table_keys) | (set(self.included) if self.projection == "INCLUDE" else set())
        return {name: value for name, value in item.items() if name in names}


def write_units_of_item(item: dict[str, Any] | None) -> int:
    return max(1, math.ceil(dynamodb_item_size(item) / 1024)) if item else 1


def gsi_write_units(index: GsiSchema, table_keys: tuple[str, ...], before: dict | None, after: dict | None) -> int:
    """Write units one table write costs in ``index`` (0 when the item is in the index neither before nor after, or
    its projection did not change): a put when the item enters the index, a delete when it leaves, an update when it
    stays with the same key, and a delete + a put when the write changes the index key ("two writes are required, one
    to delete the previous item from the index and another write to put the new item into the index": DynamoDB
    developer guide, GSI.html#GSI.Writes)."""
    old, new = index.key_of(before), index.key_of(after)
    if old is None and new is None:
        return 0
    if old is None:
        return write_units_of_item(index.projected(after or {}, table_keys))
    if new is None:
        return write_units_of_item(index.projected(before or {}, table_keys))
    old_view, new_view = index.projected(before or {}, table_keys), index.projected(after or {}, table_keys)
    if old != new:
        return write_units_of_item(old_view) + write_units_of_item(new_view)
    if old_view == new_view:
        return 0
    larger = old_view if dynamodb_item_size(old_view) >= dynamodb_item_size(new_view) else new_view
    return write_units_of_item(larger)


def interpolate(points: Mapping[int, float], x: float) -> float:
    """Piecewise linear through the measured points; beyond them, the nearest segment's slope."""
    xs = sorted(points)
    if len(xs) == 1:
        return points[xs[0]]
    for left, right in zip(xs, xs[1:], strict=False):
        if x <= right or right == xs[-1]:
            slope = (points[right] - points[left]) / (right - left)
            return points[left] + slope * (x - left)
    raise AssertionError("unreachable")


def cpu_share(memory_mb: int) -> float:
    return min(1.0, memory_mb / FULL_VCPU_MB)


def billed_ms(milliseconds: float) -> int:
    """Lambda bills duration in 1 ms increments, rounded up."""
    return max(1, math.ceil(milliseconds - 1e-9))


def write_units(item_bytes: float) -> int:
    return max(1, math.ceil(item_bytes / 1024))


def sqs_chunks(payload_bytes: float) -> int:
    return max(1, math.ceil(payload_bytes / (64 * 1024)))


def receiver_ms(size: int, inputs: Inputs) -> float:
    cpu_ms = interpolate(RECEIVER_CPU_US, size) / 1000 / cpu_share(RECEIVER_MEMORY_MB)
    return cpu_ms + inputs.sqs_send_ms


def consumer_invocation_ms(batch_size: int, archive_s3: bool, archive: bool, inputs: Inputs) -> float:
    cpu_us = CONSUMER_CPU_US_PER_INVOCATION + batch_size * CONSUMER_CPU_US_PER_RECORD
    writes = 2 + inputs.unsigned_id_share + (1 if archive else 0)
    per_record = writes * inputs.dynamodb_write_ms + (inputs.s3_put_ms if archive and archive_s3 else 0.0)
    return cpu_us / 1000 / cpu_share(CONSUMER_MEMORY_MB) + batch_size * (per_record + inputs.handler_ms)


def archive_inline_usd(size: int, inputs: Inputs) -> dict[str, float]:
    """Archive item holding metadata and body: its write units and its storage for the retention."""
    item = size + inputs.archive_metadata_bytes
    return {
        "archive write (DynamoDB)": write_units(item) * inputs.usd("dynamodb_wru"),
        "archive storage (DynamoDB)": (item + DYNAMODB_ITEM_OVERHEAD_BYTES)
        * inputs.dynamodb_storage_usd_per_byte_month
        * inputs.retention_months,
    }


def archive_s3_usd(size: int, inputs: Inputs) -> dict[str, float]:
    """Metadata item in DynamoDB, body in S3 (one PUT, stored for the retention)."""
    return {
        "archive write (DynamoDB)": write_units(inputs.archive_s3_item_bytes) * inputs.usd("dynamodb_wru"),
        "archive storage (DynamoDB)": (inputs.archive_s3_item_bytes + DYNAMODB_ITEM_OVERHEAD_BYTES)
        * inputs.dynamodb_storage_usd_per_byte_month
        * inputs.retention_months,
        "archive PUT (S3)": inputs.usd("s3_put"),
        "archive storage (S3)": size * inputs.usd("s3_storage_gb_month") / GB * inputs.retention_months,
    }


def break_even_bytes(inputs: Inputs) -> int:
    """The smallest body for which S3 (PUT + storage) costs no more than DynamoDB (write units + storage).

    The difference DynamoDB - S3 only grows with the body (each extra KiB adds write units and costs more to keep in
    DynamoDB than in S3), so the first crossing is the only one. Bodies the item limit cannot hold go to S3 anyway.
    """
    limit = DYNAMODB_ITEM_LIMIT - inputs.archive_metadata_bytes
    low, high = 0, limit
    if sum(archive_s3_usd(high, inputs).values()) > sum(archive_inline_usd(high, inputs).values()):
        return limit  # S3 never wins below the item limit
    while low < high:
        middle = (low + high) // 2
        if sum(archive_s3_usd(middle, inputs).values()) <= sum(archive_inline_usd(middle, inputs).values()):
            high = middle
        else:
            low = middle + 1
    return low


def inline_max_bytes(inputs: Inputs) -> int:
    """ARCHIVE_INLINE_MAX_BYTES: bodies up to it stay inline (the largest size where inline is strictly cheaper)."""
    return inputs.inline_max_bytes if inputs.inline_max_bytes is not None else break_even_bytes(inputs) - 1


def xray_traced_share(invocations_per_month: float, functions: int) -> float:
    """Share of invocations traced, traffic spread evenly over ``functions`` and over the month (an upper bound on
    what the per-second reservoir covers)."""
    if invocations_per_month <= 0:
        return 0.0
    rate = invocations_per_month / functions / SECONDS_PER_MONTH
    traced = min(rate, XRAY_RESERVOIR_PER_SECOND) + XRAY_FIXED_RATE * max(0.0, rate - XRAY_RESERVOIR_PER_SECOND)
    return traced / rate


def per_delivery_usd(size: int, archive: bool, inputs: Inputs) -> dict[str, float]:
    """Cost of one new delivery of ``size`` bytes, by line item (US dollars)."""
    batch = inputs.batch_size
    gb_second = inputs.usd("lambda_arm_gb_second")
    message = interpolate(RECEIVER_SQS_MESSAGE_BYTES, size)
    to_s3 = archive and size > inline_max_bytes(inputs)
    costs: dict[str, float] = {}
    costs["API Gateway HTTP API request"] = math.ceil((size + REQUEST_HEADER_BYTES) / (512 * 1024)) * inputs.usd(
        "apigw_request"
    )
    costs["API Gateway data transfer out (202 responses)"] = RESPONSE_BYTES / GB * inputs.usd("data_transfer_out_gb")
    costs["receiver Lambda requests"] = inputs.usd("lambda_request")
    costs["receiver Lambda duration"] = (
        billed_ms(receiver_ms(size, inputs)) / 1000 * RECEIVER_MEMORY_MB / 1024 * gb_second
    )
    costs["SQS SendMessage"] = sqs_chunks(message) * inputs.usd("sqs_request")
    costs["SQS ReceiveMessage + DeleteMessageBatch (per batch)"] = (
        (sqs_chunks(message * batch) + 1) / batch * inputs.usd("sqs_request")
    )
    costs["consumer Lambda requests"] = inputs.usd("lambda_request") / batch
    costs["consumer Lambda duration"] = (
        billed_ms(consumer_invocation_ms(batch, to_s3, archive, inputs))
        / 1000
        * CONSUMER_MEMORY_MB
        / 1024
        * gb_second
        / batch
    )
    ledger_units = LEDGER_TABLE_WRITE_UNITS + LEDGER_INDEX_WRITE_UNITS + inputs.unsigned_id_share
    costs["DynamoDB ledger writes (2 table + 5 GSI units)"] = ledger_units * inputs.usd("dynamodb_wru")
    ledger_bytes = LEDGER_ITEM_BYTES + DYNAMODB_ITEM_OVERHEAD_BYTES
    ledger_months = inputs.ledger_ttl_days / DAYS_PER_MONTH
    costs["DynamoDB ledger storage (table + 2 GSIs, PITR)"] = (
        ledger_months
        * ledger_bytes
        * (
            (1 + LEDGER_INDEXES) * inputs.usd("dynamodb_storage_gb_month")
            + (inputs.usd("dynamodb_pitr_gb_month") if inputs.pitr else 0.0)
        )
        / GB
    )
    if archive:
        costs.update(archive_s3_usd(size, inputs) if to_s3 else archive_inline_usd(size, inputs))
    log_bytes = (
        RECEIVER_LOG_BYTES
        + LAMBDA_PLATFORM_LOG_BYTES
        + API_ACCESS_LOG_BYTES
        + CONSUMER_LOG_BYTES_PER_RECORD
        + (CONSUMER_LOG_BYTES_PER_BATCH + LAMBDA_PLATFORM_LOG_BYTES) / batch
    )
    costs["CloudWatch Logs ingestion"] = log_bytes / GB * inputs.usd("logs_ingest_gb")
    costs["CloudWatch Logs storage (compressed, retention)"] = (
        log_bytes
        * LOGS_COMPRESSION
        / GB
        * inputs.usd("logs_storage_gb_month")
        * inputs.log_retention_days
        / DAYS_PER_MONTH
    )
    receiver_traced = xray_traced_share(inputs.deliveries, inputs.providers)
    consumer_traced = xray_traced_share(inputs.deliveries / batch, 1)
    costs["X-Ray traces (Tracing: Active)"] = (receiver_traced + consumer_traced / batch) * inputs.usd("xray_trace")
    return costs


def monthly_fixed_usd(inputs: Inputs) -> dict[str, float]:
    """What the stack costs a month whatever the volume (the deployed providers, alarms, dashboard, polling)."""
    providers = inputs.providers
    environment_hours = providers * HOURS_PER_MONTH
    cold_starts = environment_hours / ENVIRONMENT_LIFETIME_HOURS
    init_ms = COLD_START_FULL_VCPU_MS / cpu_share(RECEIVER_MEMORY_MB)
    metrics = providers * (STEADY_METRICS_PER_PROVIDER + OCCASIONAL_METRICS_PER_PROVIDER * OCCASIONAL_METRIC_HOURS)
    secret_reads = environment_hours * 3600 / max(inputs.secret_max_age_seconds, 1.0)
    return {
        f"Secrets Manager: {providers} secrets": providers * inputs.usd("secret_month"),
        f"Secrets Manager: GetSecretValue, {providers} warm environments x 3600/{inputs.secret_max_age_seconds:g} s "
        "an hour": secret_reads * inputs.usd("secrets_api_call"),
        f"CloudWatch custom metrics (~{metrics:.0f}: EMF per provider + HTTP API route metrics)": metrics
        * inputs.usd("custom_metric_month"),
        f"CloudWatch alarms ({ALARM_METRICS} + {ALARM_METRICS_PER_PROVIDER + QUERY_ALARMS} x {providers} providers "
        "alarm metrics)": (ALARM_METRICS + (ALARM_METRICS_PER_PROVIDER + QUERY_ALARMS) * providers)
        * inputs.usd("alarm_metric_month"),
        "CloudWatch dashboard (1)": inputs.usd("dashboard_month"),
        "KMS key of the alarm topic (1)": inputs.usd("kms_key_month"),
        f"SQS empty receives of the event source ({EMPTY_RECEIVES_PER_HOUR}/h)": EMPTY_RECEIVES_PER_HOUR
        * HOURS_PER_MONTH
        * inputs.usd("sqs_request"),
        f"receiver cold starts (1 per environment per {ENVIRONMENT_LIFETIME_HOURS:g} h, {init_ms:,.0f} ms init)": (
            cold_starts
            * (
                billed_ms(init_ms) / 1000 * RECEIVER_MEMORY_MB / 1024 * inputs.usd("lambda_arm_gb_second")
                + inputs.usd("secrets_api_call")
            )
        ),
    }


def replay_usd(size: int, inputs: Inputs) -> float:
    """One replay: read the archived body back, re-enqueue it, process it again (consumer side of a delivery)."""
    to_s3 = size > inline_max_bytes(inputs)
    if to_s3:
        read = math.ceil(inputs.archive_s3_item_bytes / 4096) * inputs.usd("dynamodb_rru") + inputs.usd("s3_get")
    else:
        read = math.ceil((size + inputs.archive_metadata_bytes) / 4096) * inputs.usd("dynamodb_rru")
    delivery = per_delivery_usd(size, False, inputs)
    consumer_side = sum(
        value for name, value in delivery.items() if name.startswith(("SQS", "consumer", "DynamoDB ledger writes"))
    )
    return read + consumer_side


def mix_usd(mix: Sequence[tuple[int, float]], archive: bool, inputs: Inputs) -> dict[str, float]:
    total_weight = sum(weight for _, weight in mix)
    result: dict[str, float] = {}
    for size, weight in mix:
        for name, value in per_delivery_usd(size, archive, inputs).items():
            result[name] = result.get(name, 0.0) + value * weight / total_weight
    return result


# ---------------------------------------------------------------------------------------------------------------
# Output


def money(usd: float) -> str:
    if usd == 0:
        return "$0"
    if abs(usd) >= 100:
        return f"${usd:,.0f}"
    if abs(usd) >= 1:
        return f"${usd:,.2f}"
    if abs(usd) >= 0.01:
        return f"${usd:.3f}"
    return f"${usd:.4f}"


def size_label(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size:,} B"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(values: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                value.ljust(width) if a == "l" else value.rjust(width)
                for value, width, a in zip(values, widths, align, strict=True)
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ":" if a == "r" else "-" * (w + 2) for w, a in zip(widths, align, strict=True))
        + "|"
    )
    return "\n".join([line(list(headers)), rule, *(line(row) for row in cells)])


Column = tuple[str, bool, dict[str, float]]
PER_MILLION = 1e6


def _archive_title(archive: bool) -> str:
    return "archive" if archive else "no archive"


def break_even_section(inputs: Inputs) -> list[str]:
    break_even = break_even_bytes(inputs)
    rows = []
    for days in (7, 30, 90):
        for pitr in (True, False):
            value = break_even_bytes(replace(inputs, retention_days=days, pitr=pitr, inline_max_bytes=None))
            rows.append([f"{days} days", "on" if pitr else "off", f"{value:,} B", f"{value / 1024:.1f} KiB"])
    sizes = sorted({512, 1024, 2048, 4096, break_even - 1, break_even, 8192, 16384, 65536})
    compared = []
    for size in sizes:
        inline = sum(archive_inline_usd(size, inputs).values()) * PER_MILLION
        s3 = sum(archive_s3_usd(size, inputs).values()) * PER_MILLION
        compared.append([f"{size:,}", money(inline), money(s3), "S3" if s3 <= inline else "DynamoDB"])
    return [
        "## Break-even body size: S3 vs DynamoDB for the archived body",
        "",
        f"**S3 becomes cheaper than DynamoDB at {break_even:,} bytes ({break_even / 1024:.1f} KiB)** for "
        f"{inputs.retention_days:g} days of retention{' with PITR' if inputs.pitr else ''}: keep bodies up to "
        f"{break_even - 1:,} bytes inline (ARCHIVE_INLINE_MAX_BYTES), put larger ones in S3.",
        "",
        markdown_table(["retention", "PITR", "break-even", ""], rows, "llrr"),
        "",
        "Archive cost per million bodies (write + storage for the retention):",
        "",
        markdown_table(["body bytes", "inline in DynamoDB", "S3 + metadata item", "cheaper"], compared, "lrrl"),
        "",
    ]


def columns_for(
    inputs: Inputs, sizes: Sequence[int], mix: Sequence[tuple[int, float]] | None, archive_modes: Sequence[bool]
) -> list[Column]:
    columns: list[Column] = [
        (f"{size_label(size)} {_archive_title(archive)}", archive, per_delivery_usd(size, archive, inputs))
        for size in sizes
        for archive in archive_modes
    ]
    if mix:
        columns += [
            (f"mix {_archive_title(archive)}", archive, mix_usd(mix, archive, inputs)) for archive in archive_modes
        ]
    return columns


def line_items_section(columns: Sequence[Column], mix: Sequence[tuple[int, float]] | None) -> list[str]:
    names: list[str] = []
    for _, _, costs in columns:
        names.extend(name for name in costs if name not in names)
    rows = [[name, *(money(costs.get(name, 0.0) * PER_MILLION) for _, _, costs in columns)] for name in names]
    rows.append(
        ["**total per million deliveries**", *(f"**{money(sum(c.values()) * PER_MILLION)}**" for _, _, c in columns)]
    )
    lines = [
        "## Cost per million deliveries, by line item",
        "",
        markdown_table(["line item", *(title for title, _, _ in columns)], rows),
        "",
    ]
    if mix:
        lines += ["mix: " + ", ".join(f"{size_label(size)} x {weight:g}" for size, weight in mix), ""]
    return lines


def fixed_and_totals_section(inputs: Inputs, columns: Sequence[Column]) -> list[str]:
    fixed = monthly_fixed_usd(inputs)
    fixed_total = sum(fixed.values())
    fixed_rows = [[name, money(value)] for name, value in fixed.items()]
    fixed_rows.append(["**total fixed**", f"**{money(fixed_total)}**"])
    totals = []
    for title, _, costs in columns:
        variable = sum(costs.values()) * inputs.deliveries
        all_in = (variable + fixed_total) / inputs.deliveries * PER_MILLION
        totals.append([title, money(variable), money(fixed_total), money(variable + fixed_total), money(all_in)])
    return [
        "## Fixed monthly costs (whatever the volume)",
        "",
        markdown_table(["item", "per month"], fixed_rows),
        "",
        f"## Monthly total at {inputs.deliveries:,} deliveries",
        "",
        markdown_table(["deliveries", "variable", "fixed", "total a month", "all-in per million"], totals),
        "",
    ]


def worst_case_section(inputs: Inputs, sizes: Sequence[int], archive_modes: Sequence[bool]) -> list[str]:
    if inputs.batch_size == 1:
        return []
    worst = replace(inputs, batch_size=1)
    rows = []
    for size in sizes:
        for archive in archive_modes:
            normal = sum(per_delivery_usd(size, archive, inputs).values()) * PER_MILLION
            single = sum(per_delivery_usd(size, archive, worst).values()) * PER_MILLION
            title = f"{size_label(size)} {_archive_title(archive)}"
            rows.append([title, money(normal), money(single), f"{single / normal:.2f}x"])
    return [
        "## Worst case: consumer batch size 1 (one invocation, receive and delete per delivery)",
        "",
        markdown_table(["deliveries", f"batch {inputs.batch_size}", "batch 1", "ratio"], rows),
        "",
    ]


def replay_section(inputs: Inputs, sizes: Sequence[int]) -> list[str]:
    rows = [[size_label(size), money(replay_usd(size, inputs) * 1000)] for size in sizes]
    return ["## Replays (rare): per 1,000 replays", "", markdown_table(["body", "per 1,000 replays"], rows), ""]


def hosted_section(inputs: Inputs, sizes: Sequence[int]) -> list[str]:
    fixed_total = sum(monthly_fixed_usd(inputs).values())
    reference = sizes[min(1, len(sizes) - 1)]
    rows = []
    for archive in (True, False):
        ours = sum(per_delivery_usd(reference, archive, inputs).values()) * inputs.deliveries + fixed_total
        retention = f"{inputs.retention_days:g} days" if archive else "-"
        rows.append(
            [
                f"this gateway, {size_label(reference)} bodies, {_archive_title(archive)}",
                money(ours),
                retention,
                "this script",
            ]
        )
    for plan in HOSTED:
        value = plan.price(inputs.deliveries)
        price = "not published" if value is None else f"from {money(value)}"
        rows.append([f"{plan.vendor} {plan.plan}", price, plan.retention, plan.source])
    return [
        f"## Hosted gateways at {inputs.deliveries:,} events a month (published prices, read {HOSTED_READ_ON})",
        "",
        markdown_table(["offer", "per month", "payload retention", "source"], rows, "lrll"),
        "",
    ]


def prices_section(inputs: Inputs) -> list[str]:
    rows = [[name, f"{p.usd:.10g}", p.unit, p.page, p.checked] for name, p in inputs.prices.items()]
    return [
        "## Unit prices used",
        "",
        markdown_table(["price", "USD", "unit", "pricing page", "checked"], rows, "lrlll"),
        "",
        f"Measured inputs: `{MEASURED_BY}` on {MEASURED_ON}; assumptions: the ASSUMED block of bench/cost.py.",
    ]


def report(
    inputs: Inputs, sizes: Sequence[int], mix: Sequence[tuple[int, float]] | None, archive_modes: Sequence[bool]
) -> str:
    columns = columns_for(inputs, sizes, mix, archive_modes)
    header = [
        f"# Cost model: {inputs.deliveries:,} deliveries a month ({REGION} list prices, read {PRICES_READ_ON})",
        "",
        f"Batch size {inputs.batch_size}, archive retention {inputs.retention_days:g} days, ledger TTL "
        f"{inputs.ledger_ttl_days:g} days, log retention {inputs.log_retention_days:g} days, PITR "
        f"{'on' if inputs.pitr else 'off'}, {inputs.providers} providers deployed, "
        f"ARCHIVE_INLINE_MAX_BYTES = {inline_max_bytes(inputs):,}.",
        "",
    ]
    sections = [
        header,
        break_even_section(inputs),
        line_items_section(columns, mix),
        fixed_and_totals_section(inputs, columns),
        worst_case_section(inputs, sizes, archive_modes),
        replay_section(inputs, sizes),
        hosted_section(inputs, sizes),
        prices_section(inputs),
    ]
    return "\n".join(line for section in sections for line in section)


def parse_mix(text: str) -> list[tuple[int, float]]:
    mix = []
    for item in text.split(","):
        size, _, weight = item.partition(":")
        mix.append((int(size), float(weight or 1)))
    return mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1_000_000, help="deliveries a month (default 1,000,000)")
    parser.add_argument(
        "--size",
        type=int,
        action="append",
        metavar="BYTES",
        help="a body size to show (repeatable; default 1, 4, 16 and 64 KiB)",
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        metavar="SIZE:WEIGHT,...",
        help="a body size distribution, shown as one more column, e.g. 1024:6,4096:3,65536:1",
    )
    parser.add_argument("--batch-size", type=int, default=10, help="ConsumerBatchSize, 1-10 (default 10)")
    parser.add_argument("--retention-days", type=float, default=30.0, help="ArchiveRetentionDays (default 30)")
    parser.add_argument("--ledger-ttl-days", type=float, default=30.0, help="DeliveryTtlDays (default 30)")
    parser.add_argument("--log-retention-days", type=float, default=30.0, help="LogRetentionDays (default 30)")
    parser.add_argument("--archive", choices=("both", "on", "off"), default="both")
    parser.add_argument(
        "--inline-max-bytes", type=int, help="ARCHIVE_INLINE_MAX_BYTES (default: just under the computed break-even)"
    )
    parser.add_argument("--no-pitr", action="store_true", help="as if point-in-time recovery were off")
    parser.add_argument("--providers", type=int, default=DEFAULT_PROVIDERS, help="deployed providers (default 15)")
    parser.add_argument("--secret-max-age", type=float, default=300.0, help="SecretMaxAgeSeconds (default 300)")
    parser.add_argument(
        "--unsigned-id-share",
        type=float,
        default=0.0,
        help="share of deliveries whose id is unsigned (GitHub: one more ledger write); default 0",
    )
    parser.add_argument("--handler-ms", type=float, default=0.0, help="your handler's time per record (default 0)")
    parser.add_argument(
        "--archive-metadata-bytes",
        type=int,
        default=ARCHIVE_METADATA_BYTES,
        help=f"archive item bytes besides an inline body (default {ARCHIVE_METADATA_BYTES}, GitHub)",
    )
    parser.add_argument(
        "--archive-s3-item-bytes",
        type=int,
        default=ARCHIVE_S3_ITEM_BYTES,
        help=f"archive item bytes when the body is in S3 (default {ARCHIVE_S3_ITEM_BYTES})",
    )
    parser.add_argument("--sqs-send-ms", type=float, default=SQS_SEND_MS)
    parser.add_argument("--dynamodb-write-ms", type=float, default=DYNAMODB_WRITE_MS)
    parser.add_argument("--s3-put-ms", type=float, default=S3_PUT_MS)
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= 10:
        parser.error("--batch-size must be 1-10 (SQS)")
    inputs = Inputs(
        deliveries=args.deliveries,
        batch_size=args.batch_size,
        retention_days=args.retention_days,
        ledger_ttl_days=args.ledger_ttl_days,
        log_retention_days=args.log_retention_days,
        inline_max_bytes=args.inline_max_bytes,
        pitr=not args.no_pitr,
        providers=args.providers,
        secret_max_age_seconds=args.secret_max_age,
        unsigned_id_share=args.unsigned_id_share,
        sqs_send_ms=args.sqs_send_ms,
        dynamodb_write_ms=args.dynamodb_write_ms,
        s3_put_ms=args.s3_put_ms,
        handler_ms=args.handler_ms,
        archive_metadata_bytes=args.archive_metadata_bytes,
        archive_s3_item_bytes=args.archive_s3_item_bytes,
    )
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.archive]
    print(report(inputs, args.size or [1024, 4096, 16384, 65536], args.mix, modes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
