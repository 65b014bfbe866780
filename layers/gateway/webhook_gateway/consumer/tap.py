"""The listener tap (template parameter ``ListenerTap``, dev and staging stacks): every delivery the consumer receives
is also published to an SNS topic, which fans it out to one SQS queue per ``hookctl listen``.

The consumer publishes, not the receiver: the receiver's hot path stays one ``SendMessage``. Each record is published
on its first receive (``ApproximateReceiveCount`` 1), before its handler runs, so a delivery that fails and comes
back is not published again; a replay copy (``hookctl replay``) is a new message, published on its own first receive.
The message is the SQS message body as received (the envelope: a claim-checked body stays the pointer to the overflow
bucket, which ``hookctl listen`` fetches), with the provider, delivery id and event type as message attributes (the
listeners' filter policies select on them).

Delivery guarantees: at most once from the consumer to the topic (a failed publish is logged and counted as
``TapPublishFailures``, never retried, and never fails the delivery: the tap is dev tooling, the delivery is what
matters), then at least once from the listener's queue on (``hookctl listen`` deletes a message only after the
local side answered 2xx).

An envelope over SNS's 256 KiB message limit (inline bodies may reach ~1 MB in SQS) is published as a stub naming
the delivery (:data:`TOO_LARGE`), which ``hookctl listen`` reports instead of forwarding.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from webhook_gateway.envelope import ATTR_DELIVERY_ID, ATTR_EVENT_TYPE, ATTR_PROVIDER, Envelope

# SNS: at most 256 KiB per message, body and attributes together (UTF-8 bytes).
SNS_MAX_MESSAGE_BYTES = 262_144
# Room kept for the attributes (three short strings, bounded by the envelope's own limits: ids <= 512 bytes).
_ATTRIBUTE_ALLOWANCE = 2_048
TOO_LARGE = "tap_too_large"  # the stub's marker key


@cache
def default_sns_client() -> Any:
    """Created on first use (only a stack with the tap on ever makes one)."""
    import boto3
    from botocore.config import Config

    return boto3.client("sns", config=Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2))


def message_attributes(envelope: Envelope) -> dict[str, dict[str, str]]:
    """What the listeners' filter policies select on (the SQS attributes' names: one vocabulary)."""
    return {
        ATTR_PROVIDER: {"DataType": "String", "StringValue": envelope.provider},
        ATTR_DELIVERY_ID: {"DataType": "String", "StringValue": envelope.delivery_id},
        ATTR_EVENT_TYPE: {"DataType": "String", "StringValue": envelope.event_type or "unknown"},
    }


def tap_message(body: str, envelope: Envelope) -> str:
    """The message published for ``envelope`` whose SQS body is ``body``: the body itself, or a stub when it would
    not fit in one SNS message."""
    if len(body.encode("utf-8")) + _ATTRIBUTE_ALLOWANCE <= SNS_MAX_MESSAGE_BYTES:
        return body
    return json.dumps(
        {
            TOO_LARGE: True,
            "provider": envelope.provider,
            "delivery_id": envelope.delivery_id,
            "event_type": envelope.event_type,
            "body_size": envelope.body_size,
            "received_at": envelope.received_at.isoformat(),
        }
    )


def publish(topic_arn: str, body: str, envelope: Envelope, *, client: Any = None) -> None:
    """One ``Publish``; raises what the client raises (the processor counts and logs it)."""
    (client if client is not None else default_sns_client()).publish(
        TopicArn=topic_arn, Message=tap_message(body, envelope), MessageAttributes=message_attributes(envelope)
    )
