"""The cost model's arithmetic (bench/cost.py) against values computed by hand from its own price table."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from bench import cost
from bench.cost import GB, Inputs

WRU = cost.PRICES["dynamodb_wru"].usd
SQS = cost.PRICES["sqs_request"].usd
MONTH_DAYS = 365.25 / 12


def test_the_ledger_costs_two_table_and_five_index_write_units_per_new_delivery():
    """Given a 1 KiB delivery without the archive, when it is costed, then the ledger line is 7 write units: claim +
    completion on the table, and by-status (put, then delete + put) + by-provider (put, update) on the indexes."""
    costs = cost.per_delivery_usd(1024, archive=False, inputs=Inputs())

    assert costs["DynamoDB ledger writes (2 table + 5 GSI units)"] == pytest.approx(7 * WRU)


def test_sqs_bills_the_send_per_64_kib_chunk_and_the_receive_per_chunk_of_the_whole_batch():
    """Given a 64 KiB GitHub body, whose envelope is ~72.5 KB (two chunks), when it is costed at batch size 10, then
    SendMessage is 2 requests and the batch's ReceiveMessage is ceil(10 x 72.5 KB / 64 KiB) = 12 requests, plus one
    DeleteMessageBatch, shared by the 10 deliveries."""
    costs = cost.per_delivery_usd(65536, archive=False, inputs=Inputs(batch_size=10))
    message = cost.RECEIVER_SQS_MESSAGE_BYTES[65536]

    assert costs["SQS SendMessage"] == pytest.approx(2 * SQS)
    assert math.ceil(10 * message / 65536) == 12
    assert costs["SQS ReceiveMessage + DeleteMessageBatch (per batch)"] == pytest.approx((12 + 1) / 10 * SQS)


def test_the_receiver_is_billed_its_cpu_at_its_cpu_share_plus_one_send_round_trip_rounded_up_to_the_ms():
    """Given a 1 KiB body (202 µs of CPU measured on a full core), when the receiver runs at 256 MB (256/1769 of a
    vCPU) with an 8 ms SendMessage, then it is billed ceil(1.40 + 8) = 10 ms at 0.25 GB."""
    inputs = Inputs(sqs_send_ms=8.0)
    costs = cost.per_delivery_usd(1024, archive=False, inputs=inputs)

    expected_ms = math.ceil(202 / 1000 / (256 / 1769) + 8.0)
    assert expected_ms == 10
    assert costs["receiver Lambda duration"] == pytest.approx(
        expected_ms / 1000 * 0.25 * cost.PRICES["lambda_arm_gb_second"].usd
    )


def test_an_inline_archive_item_pays_its_write_units_and_its_storage_for_the_retention():
    """Given a 4,000-byte body and 30 days of retention with PITR, when it is archived inline, then the item (the body
    + the measured 929 bytes of metadata: 4,929 bytes) takes 5 write units, and 5,029 bytes (with DynamoDB's 100-byte
    overhead) are stored at table + PITR rates for 30/30.44 of a month."""
    inputs = Inputs(retention_days=30, pitr=True, inline_max_bytes=10_000, archive_metadata_bytes=929)
    costs = cost.per_delivery_usd(4000, archive=True, inputs=inputs)

    rate = cost.PRICES["dynamodb_storage_gb_month"].usd + cost.PRICES["dynamodb_pitr_gb_month"].usd
    assert costs["archive write (DynamoDB)"] == pytest.approx(5 * WRU)
    assert costs["archive storage (DynamoDB)"] == pytest.approx(5029 / GB * rate * 30 / MONTH_DAYS)
    assert "archive PUT (S3)" not in costs


def test_a_body_above_the_threshold_goes_to_s3_with_a_metadata_item():
    """Given a body above ARCHIVE_INLINE_MAX_BYTES, when it is archived, then it costs one S3 PUT, its bytes in S3
    for the retention and the metadata item, whose measured 1,057 bytes take 2 write units."""
    inputs = Inputs(inline_max_bytes=1000, archive_s3_item_bytes=1057)
    costs = cost.per_delivery_usd(16384, archive=True, inputs=inputs)

    assert costs["archive PUT (S3)"] == pytest.approx(cost.PRICES["s3_put"].usd)
    assert costs["archive write (DynamoDB)"] == pytest.approx(2 * WRU)
    assert costs["archive storage (S3)"] == pytest.approx(
        16384 / GB * cost.PRICES["s3_storage_gb_month"].usd * 30 / MONTH_DAYS
    )


@pytest.mark.parametrize("retention_days", [7, 30, 90])
@pytest.mark.parametrize("pitr", [True, False])
def test_the_break_even_is_where_s3_stops_costing_more_than_dynamodb(retention_days, pitr):
    """Given a retention and PITR setting, when the break-even body size is computed, then one byte below it
    DynamoDB is strictly cheaper and at it S3 costs no more than DynamoDB."""
    inputs = Inputs(retention_days=retention_days, pitr=pitr)
    size = cost.break_even_bytes(inputs)

    def dynamodb(bytes_: int) -> float:
        return sum(cost.archive_inline_usd(bytes_, inputs).values())

    def s3(bytes_: int) -> float:
        return sum(cost.archive_s3_usd(bytes_, inputs).values())

    assert 0 < size < cost.DYNAMODB_ITEM_LIMIT
    assert s3(size - 1) > dynamodb(size - 1)
    assert s3(size) <= dynamodb(size)


def test_a_longer_retention_moves_the_break_even_down():
    """Given the same prices, when bodies are kept longer, then storage weighs more and S3 wins at smaller sizes."""
    assert cost.break_even_bytes(Inputs(retention_days=90)) < cost.break_even_bytes(Inputs(retention_days=7))


def test_the_default_threshold_keeps_bodies_just_under_the_break_even_inline():
    """Given no explicit ARCHIVE_INLINE_MAX_BYTES, when the model picks one, then it is one byte under the break-even
    (the largest body for which DynamoDB is strictly cheaper)."""
    inputs = Inputs()

    assert cost.inline_max_bytes(inputs) == cost.break_even_bytes(inputs) - 1
    assert cost.inline_max_bytes(replace(inputs, inline_max_bytes=4096)) == 4096


@pytest.mark.parametrize("size", [1024, 4096, 16384, 65536])
@pytest.mark.parametrize("batch_size", [1, 10])
def test_the_archive_off_costs_less_than_the_archive_on(size, batch_size):
    """Given any body size and batch size, when both are costed, then the delivery without the archive is cheaper,
    and by exactly the archive's lines plus the consumer's extra round trip."""
    inputs = Inputs(batch_size=batch_size)
    off = cost.per_delivery_usd(size, archive=False, inputs=inputs)
    on = cost.per_delivery_usd(size, archive=True, inputs=inputs)

    assert sum(off.values()) < sum(on.values())
    archive_lines = {name: value for name, value in on.items() if name.startswith("archive")}
    assert archive_lines
    extra_duration = on["consumer Lambda duration"] - off["consumer Lambda duration"]
    assert sum(on.values()) - sum(off.values()) == pytest.approx(sum(archive_lines.values()) + extra_duration)


def test_fixed_costs_count_one_secret_per_provider_and_secret_reads_per_warm_environment_hour():
    """Given 3 providers and a 300 s secret cache, when the fixed costs are computed, then the secrets cost 3 x the
    monthly price and GetSecretValue is called 12 times an hour in each of the 3 warm environments."""
    fixed = cost.monthly_fixed_usd(Inputs(providers=3, secret_max_age_seconds=300))

    assert fixed["Secrets Manager: 3 secrets"] == pytest.approx(3 * cost.PRICES["secret_month"].usd)
    reads = next(value for name, value in fixed.items() if name.startswith("Secrets Manager: GetSecretValue"))
    assert reads == pytest.approx(3 * 12 * cost.HOURS_PER_MONTH * cost.PRICES["secrets_api_call"].usd)


def test_a_hosted_plan_adds_its_per_event_price_above_what_it_includes_and_an_unpublished_one_has_none():
    """Given Hookdeck's Team plan ($39 with 10,000 events, $1 per further 100,000) and Convoy Cloud (no published
    price), when priced at a million events, then Hookdeck is $39 + $9.90 and Convoy is None."""
    team = next(plan for plan in cost.HOSTED if plan.vendor == "Hookdeck" and plan.plan == "Team")
    convoy = next(plan for plan in cost.HOSTED if plan.vendor == "Convoy")

    assert team.price(1_000_000) == pytest.approx(39 + 9.90)
    assert convoy.price(1_000_000) is None


def test_the_report_prints_the_break_even_and_both_archive_modes():
    """Given the defaults, when the report is rendered, then it states the break-even and costs each size with and
    without the archive."""
    text = cost.report(Inputs(), [1024, 4096], None, (False, True))

    assert f"S3 becomes cheaper than DynamoDB at {cost.break_even_bytes(Inputs()):,} bytes" in text
    for column in ("1 KiB no archive", "1 KiB archive", "4 KiB no archive", "4 KiB archive"):
        assert column in text


def test_dynamodb_item_size_counts_attribute_names_and_values():
    """Given an item of a string, a number and a binary attribute, when it is sized with DynamoDB's rules, then it is
    the names' bytes + the string's UTF-8 bytes + 1 byte per two significant digits + 1 + the binary's length."""
    item = {"provider": {"S": "stripé"}, "attempts": {"N": "12345"}, "body": {"B": b"\x00" * 10}}

    assert cost.dynamodb_item_size(item) == (8 + 7) + (8 + 3 + 1) + (4 + 10)


BY_STATUS = cost.GsiSchema("by-status", ("status", "last_attempt_at"), "ALL")
BY_PROVIDER = cost.GsiSchema("by-provider", ("provider", "last_attempt_at"), "ALL")
TABLE_KEYS = ("provider", "delivery_id")


def ledger_item(status: str, **extra: str) -> dict:
    item = {
        "provider": {"S": "stripe"},
        "delivery_id": {"S": "evt_1"},
        "status": {"S": status},
        "last_attempt_at": {"S": "2026-12-01T19:00:00Z"},
    }
    return item | {name: {"S": value} for name, value in extra.items()}


def test_the_ledger_claim_and_completion_cost_three_units_in_by_status_and_two_in_by_provider():
    """Given the claim (the item enters both indexes) and the completion (status changes: by-status's key; provider and
    last_attempt_at stay: by-provider's key), when each write is priced per index, then by-status costs 1 + 2 (delete +
    put) and by-provider 1 + 1 (put, update): the model's LEDGER_INDEX_WRITE_UNITS."""
    claimed = ledger_item("processing", lease_owner="req-1")
    completed = ledger_item("processed", outcome="handled")

    by_status = [
        cost.gsi_write_units(BY_STATUS, TABLE_KEYS, *images) for images in ((None, claimed), (claimed, completed))
    ]
    by_provider = [
        cost.gsi_write_units(BY_PROVIDER, TABLE_KEYS, *images) for images in ((None, claimed), (claimed, completed))
    ]

    assert by_status == [1, 2]
    assert by_provider == [1, 1]
    assert sum(by_status) + sum(by_provider) == cost.LEDGER_INDEX_WRITE_UNITS


def test_an_item_without_the_index_keys_costs_nothing_in_the_index():
    """Given an archive item (no status, no last_attempt_at), when it is written, then neither index is written."""
    archive = {"provider": {"S": "stripe#archive"}, "delivery_id": {"S": "evt_1"}, "body": {"B": b"{}"}}

    assert cost.gsi_write_units(BY_STATUS, TABLE_KEYS, None, archive) == 0
    assert cost.gsi_write_units(BY_PROVIDER, TABLE_KEYS, None, archive) == 0
