"""Business handlers: ONE module per provider, each function registered with ``@on(provider, event_type)``.

To add a handler: write a function taking a ``WebhookEvent`` in the provider's module below (create the module and
import it here for a new provider). It runs at most once per successful delivery; if it raises, the delivery is
recorded as failed and retried, so make its side effects idempotent (use ``event.delivery_id`` as the key).
Event types nobody registered are acknowledged and recorded as ``skipped``. See docs/consumer.md.
"""

# importing registers the handlers
from consumer_handlers import (  # noqa: F401
    discord,
    generic_hmac,
    github,
    gitlab,
    hubspot,
    linear,
    meta,
    paddle,
    shopify,
    slack,
    square,
    standard_webhooks,
    stripe,
    twilio,
    zoom,
)
