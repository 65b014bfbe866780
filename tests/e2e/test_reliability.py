"""Nothing is lost: 2,000 signed deliveries through the local pipeline over real HTTP, 30% of them delivered two or
three times, 10% forged, with the enqueue failing, the ledger throttled, the handler raising and the consumer killed
mid-batch at random (tests/e2e/reliability.py has the details and the invariants).

The figures are printed at the end of the pytest run and written to the test's tmp dir (report.txt, report.json);
``E2E_DELIVERIES=N`` changes the size (bench/e2e_reliability.py runs 20,000).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import pytest

from tests.conftest import REPORT_PROPERTY
from tests.e2e.reliability import RunConfig, format_report, run

pytestmark = pytest.mark.slow


def test_every_accepted_delivery_is_processed_exactly_once_or_dead_lettered(tmp_path, record_property):
    config = RunConfig(deliveries=int(os.environ.get("E2E_DELIVERIES", "2000")))
    report = run(config, tmp_path)
    text = format_report(report)
    record_property(REPORT_PROPERTY, text)  # printed at the end of the run, from whichever process ran it
    (tmp_path / "report.txt").write_text(text + "\n", encoding="utf-8")
    (tmp_path / "report.json").write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")

    assert report.violations == [], text
    # The faults really happened (a configuration that injects nothing would prove nothing)
    faults, outcomes = report.faults, report.outcomes
    assert faults["SendMessage 500 (not queued)"] > 0 and faults["SendMessage 500 (queued, answer lost)"] > 0, text
    assert faults["UpdateItem throttled"] > 0 and faults.get("UpdateItem throttling storms:storms", 0) > 0, text
    assert faults["handler raised (random)"] > 0 and faults["handler raised (poison)"] > 0, text
    assert faults["consumer instances killed mid-batch"] > 0, text
    assert outcomes["503 answered (enqueue failed)"] > 0 and report.traffic["provider_resends_after_5xx"] > 0, text
    assert outcomes["duplicates dropped"] > 0 and outcomes["dead-lettered poison deliveries"] > 0, text
    # every processed delivery was archived (the template's default ArchiveRetentionDays, 30, is on)
    assert outcomes["processed deliveries archived intact"] == outcomes["processed (ledger)"] > 0, text
    # and every genuine delivery was eventually acknowledged, every forged one refused
    assert outcomes["deliveries accepted (2xx)"] == report.traffic["genuine"], text
    assert outcomes["forged rejected (401)"] == report.traffic["forged"], text
