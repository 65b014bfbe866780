"""Shopify handlers (example: they log what they got, never customer data at INFO).

``event_type`` is the ``X-Shopify-Topic`` (``orders/create``); ``event.body`` is the resource. The GDPR compliance
topics (``customers/data_request``, ``customers/redact``, ``shop/redact``) are mandatory for public apps: act on them
within 30 days. The delivery id is unsigned (a header), so the consumer also refuses the same body twice.
"""

from __future__ import annotations

from typing import Any

from webhook_gateway.consumer.events import WebhookEvent
from webhook_gateway.consumer.registry import on
from webhook_gateway.observability import logger


def _body(event: WebhookEvent) -> dict[str, Any]:
    return event.body if isinstance(event.body, dict) else {}


@on("shopify", "orders/create")
def order_created(event: WebhookEvent) -> None:
    order = _body(event)
    logger.info(
        "shopify order created",
        extra={
            "shop": event.header("x-shopify-shop-domain"),
            "order": order.get("id"),
            "currency": order.get("currency"),
        },
    )


@on("shopify", "customers/*")
@on("shopify", "shop/redact")
def compliance_request(event: WebhookEvent) -> None:
    logger.info(
        "shopify compliance request", extra={"topic": event.event_type, "shop": _body(event).get("shop_domain")}
    )


@on("shopify", "app/uninstalled")
def app_uninstalled(event: WebhookEvent) -> None:
    logger.info("shopify app uninstalled", extra={"shop": event.header("x-shopify-shop-domain")})
