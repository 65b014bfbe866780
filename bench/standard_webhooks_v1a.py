"""Cost of one Standard Webhooks v1a (Ed25519) verification against one v1 (HMAC-SHA256), in the same process.

    .venv/bin/python -m bench.standard_webhooks_v1a [--rounds N] [--body-size BYTES] [--clock wall|cpu]

Subject: ``standard_webhooks.verify`` of a delivery with one ``v1a`` entry and a ``whpk_`` secret (the standard
library RFC 8032 verification of the module), and the bare ``ed25519_verify`` beneath it. Baseline: ``verify`` of
the same delivery signed ``v1`` with a ``whsec_`` secret (HMAC-SHA256 + ``hmac.compare_digest``). For scale,
``cryptography``'s (OpenSSL) Ed25519 verification of the same signature, which the layer does not use.

Timing: the variants take turns within each round (order rotated every round), one call timed at a time, medians;
ratios are medians of the per-round ratios against the v1 baseline of the same round. ``--clock cpu`` times on the
process's CPU time (``time.process_time_ns``), steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import sys
import time
from collections.abc import Callable

from bench.receiver_common import fmt_us, median, quartiles, table, use_repo_sources

use_repo_sources()

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from webhook_gateway.verifiers import standard_webhooks as sw  # noqa: E402
from webhook_gateway.verifiers.base import SecretCandidate, VerificationPolicy, WebhookRequest  # noqa: E402

NOW = 1_700_000_000
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def body_of(size: int) -> bytes:
    padding = "x" * max(0, size - 60)
    return json.dumps({"type": "invoice.paid", "data": {"padding": padding}}).encode()[:size]


def subjects(size: int) -> dict[str, Callable[[], object]]:
    body = body_of(size)
    content = sw.signed_content(MSG_ID, str(NOW), body)
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = private.public_key()
    raw_public = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private.sign(content)
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    policy = VerificationPolicy(now=NOW)

    def request(entry: str) -> WebhookRequest:
        headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW), "webhook-signature": entry}
        return WebhookRequest(body=body, headers=headers)

    v1 = request("v1," + sw.sign(MSG_ID, str(NOW), body, key))
    v1a = request("v1a," + base64.b64encode(signature).decode())
    v1_secrets = [SecretCandidate("current", SECRET)]
    v1a_secrets = [SecretCandidate("current", "whpk_" + base64.b64encode(raw_public).decode())]
    assert sw.verify(v1, v1_secrets, policy) and sw.verify(v1a, v1a_secrets, policy)
    assert sw.ed25519_verify(raw_public, content, signature)
    return {
        "verify, v1 (HMAC-SHA256): baseline": lambda: sw.verify(v1, v1_secrets, policy),
        "verify, v1a (Ed25519, standard library)": lambda: sw.verify(v1a, v1a_secrets, policy),
        "ed25519_verify alone": lambda: sw.ed25519_verify(raw_public, content, signature),
        "cryptography (OpenSSL) Ed25519, for scale": lambda: public.verify(signature, content),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=301)
    parser.add_argument("--body-size", type=int, default=1024)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args(argv)
    clock = time.process_time_ns if args.clock == "cpu" else time.perf_counter_ns
    named = subjects(args.body_size)
    names = list(named)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(10):  # warm-up
        for run in named.values():
            run()
    for round_number in range(args.rounds):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            started = clock()
            named[name]()
            times[name].append((clock() - started) / 1e9)
    baseline = times[names[0]]
    rows = []
    for name in names:
        ratios = [subject / base for subject, base in zip(times[name], baseline, strict=True)]
        low, high = quartiles(times[name])
        rows.append([name, fmt_us(median(times[name])), f"{fmt_us(low)} - {fmt_us(high)}", f"{median(ratios):.0f}x"])
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {args.rounds} rounds, "
        f"body {args.body_size} B, {args.clock} clock"
    )
    print(table(["variant", "median", "quartiles", "x v1 (paired)"], rows, align="lrrr"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
