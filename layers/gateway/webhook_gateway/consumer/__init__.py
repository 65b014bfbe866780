"""The consumer side: process every queued delivery exactly once (see docs/consumer.md).

* ``ledger``    the idempotency logic: conditional claims/completions on the deliveries table (start here);
* ``processor`` one SQS record: envelope -> claim -> body -> handler -> complete, and the batch entry point;
* ``registry``  ``@on(provider, event_type)``: where business handlers plug in;
* ``events``    ``WebhookEvent``, the typed event handlers receive;
* ``bodies``    inline or claim-checked (S3) bodies, verified against ``body_sha256``;
* ``settings``  ``ConsumerSettings`` from the environment; ``tally`` the per-provider metrics.
"""
