"""Shopify's sending side: ``X-Shopify-Hmac-Sha256`` = base64 HMAC-SHA256 of the raw body keyed with the app's client
secret, and the sample webhooks ``orders_create`` (topic ``orders/create``, the default), ``customers_data_request``
(the mandatory GDPR compliance topic ``customers/data_request``) and ``app_uninstalled`` (``app/uninstalled``), sent
with the classic ``X-Shopify-*`` headers of an API-version-2026-07 subscription."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from webhook_gateway.verifiers.samples import SAMPLE_DELIVERY_TIME, SampleDelivery, Samples, Signature, sample_uuid

JSON_CONTENT_TYPE = "application/json"
USER_AGENT = "Shopify-Captain-Hook"
SOURCE_IP = "34.121.82.17"  # Shopify delivers from Google Cloud addresses (it publishes no fixed list)
API_VERSION = "2026-07"
SHOP_DOMAIN = "gateway-sample.myshopify.com"
SHOP_ID = 68812734501
ORDER_ID = 6154913497125
CUSTOMER_ID = 7388240183333


def signature_headers(body: bytes, secret: str) -> dict[str, str]:
    """Base64 of HMAC-SHA256(client secret as UTF-8, raw body): what Shopify's docs and ``@shopify/shopify-api``
    (``createSHA256HMAC(apiSecretKey, rawBody, Base64)``) compute."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return {"x-shopify-hmac-sha256": base64.b64encode(digest).decode("ascii")}


def sign(body: bytes, url: str, content_type: str, secret: str, sent_at: float) -> Signature:
    return Signature(url, signature_headers(body, secret))


def _iso(epoch: int) -> str:
    """Shopify's REST timestamps: shop-local offset; the sample shop is in New York (UTC-05:00 in November)."""
    return datetime.fromtimestamp(epoch - 5 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S-05:00")


def _delivery(topic: str, document: dict[str, Any]) -> SampleDelivery:
    # Shopify sends compact JSON.
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    triggered = datetime.fromtimestamp(SAMPLE_DELIVERY_TIME - 1, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    return SampleDelivery(
        body=body,
        headers={
            "accept": "*/*",
            "content-type": JSON_CONTENT_TYPE,
            "user-agent": USER_AGENT,
            "x-shopify-api-version": API_VERSION,
            "x-shopify-event-id": sample_uuid(f"shopify:event:{topic}"),
            "x-shopify-shop-domain": SHOP_DOMAIN,
            "x-shopify-topic": topic,
            "x-shopify-triggered-at": triggered,
            "x-shopify-webhook-id": sample_uuid(f"shopify:webhook:{topic}"),
        },
        content_type=JSON_CONTENT_TYPE,
        source_ip=SOURCE_IP,
    )


def _address(first: str, last: str) -> dict[str, Any]:
    return {
        "first_name": first,
        "address1": "151 O'Connor Street",
        "phone": "+1 613-555-0123",
        "city": "Ottawa",
        "zip": "K2P 2L8",
        "province": "Ontario",
        "country": "Canada",
        "last_name": last,
        "address2": "Ground floor",
        "company": None,
        "latitude": 45.4169,
        "longitude": -75.6981,
        "name": f"{first} {last}",
        "country_code": "CA",
        "province_code": "ON",
    }


def _money(amount: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": amount, "currency_code": "CAD"},
        "presentment_money": {"amount": amount, "currency_code": "CAD"},
    }


def _orders_create() -> SampleDelivery:
    created = _iso(SAMPLE_DELIVERY_TIME - 2)
    line_item = {
        "id": 15423587827749,
        "admin_graphql_api_id": "gid://shopify/LineItem/15423587827749",
        "current_quantity": 2,
        "fulfillable_quantity": 2,
        "fulfillment_service": "manual",
        "fulfillment_status": None,
        "gift_card": False,
        "grams": 450,
        # Non-ASCII text travels as raw UTF-8: the signature covers those bytes.
        "name": "Café Crème Beans — 1 kg",
        "price": "24.50",
        "price_set": _money("24.50"),
        "product_exists": True,
        "product_id": 8921455739173,
        "properties": [],
        "quantity": 2,
        "requires_shipping": True,
        "sku": "CCB-1KG",
        "taxable": True,
        "title": "Café Crème Beans",
        "total_discount": "0.00",
        "total_discount_set": _money("0.00"),
        "variant_id": 47011833430309,
        "variant_inventory_management": "shopify",
        "variant_title": "1 kg",
        "vendor": "Gateway Roasters",
        "tax_lines": [
            {"channel_liable": False, "price": "6.37", "price_set": _money("6.37"), "rate": 0.13, "title": "HST"}
        ],
        "duties": [],
        "discount_allocations": [],
    }
    customer = {
        "id": CUSTOMER_ID,
        "email": "jon.snow@example.com",
        "created_at": _iso(SAMPLE_DELIVERY_TIME - 86400 * 30),
        "updated_at": created,
        "first_name": "Jon",
        "last_name": "Snow",
        "state": "enabled",
        "note": None,
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": None,
        "currency": "CAD",
        "tax_exemptions": [],
        "admin_graphql_api_id": f"gid://shopify/Customer/{CUSTOMER_ID}",
        "default_address": {
            "id": 9522198200613,
            "customer_id": CUSTOMER_ID,
            "default": True,
            **_address("Jon", "Snow"),
        },
    }
    order = {
        "id": ORDER_ID,
        "admin_graphql_api_id": f"gid://shopify/Order/{ORDER_ID}",
        "app_id": 580111,
        "browser_ip": "203.0.113.42",
        "buyer_accepts_marketing": False,
        "cancel_reason": None,
        "cancelled_at": None,
        "cart_token": "Z2NwLXVzLWVhc3QxOjAxSkdBVEVXQVlDQVJUMDAwMQ",
        "checkout_id": 37012298334245,
        "checkout_token": "0b7c6f3e9d2a4c1b8e5f7a9d3c2b1e4f",
        "confirmation_number": "GW7Q2K9XZ",
        "confirmed": True,
        "contact_email": "jon.snow@example.com",
        "created_at": created,
        "currency": "CAD",
        "current_subtotal_price": "49.00",
        "current_total_price": "55.37",
        "current_total_tax": "6.37",
        "customer_locale": "en-CA",
        "email": "jon.snow@example.com",
        "estimated_taxes": False,
        "financial_status": "paid",
        "fulfillment_status": None,
        "landing_site": "/",
        "name": "#1042",
        "note": None,
        "note_attributes": [],
        "number": 42,
        "order_number": 1042,
        "order_status_url": f"https://{SHOP_DOMAIN}/{SHOP_ID}/orders/0b7c6f3e9d2a4c1b8e5f7a9d3c2b1e4f/authenticate"
        "?key=5f2d8c1e9b7a4d3c",
        "payment_gateway_names": ["shopify_payments"],
        "phone": None,
        "presentment_currency": "CAD",
        "processed_at": created,
        "source_name": "web",
        "subtotal_price": "49.00",
        "subtotal_price_set": _money("49.00"),
        "tags": "",
        "tax_lines": [
            {"price": "6.37", "rate": 0.13, "title": "HST", "price_set": _money("6.37"), "channel_liable": False}
        ],
        "taxes_included": False,
        "test": False,
        "token": "3c9e5a1f7b2d4e6a8c0f1e3d5b7a9c2e",
        "total_discounts": "0.00",
        "total_line_items_price": "49.00",
        "total_outstanding": "0.00",
        "total_price": "55.37",
        "total_price_set": _money("55.37"),
        "total_shipping_price_set": _money("0.00"),
        "total_tax": "6.37",
        "total_weight": 900,
        "updated_at": created,
        "user_id": None,
        "billing_address": _address("Jon", "Snow"),
        "customer": customer,
        "discount_applications": [],
        "fulfillments": [],
        "line_items": [line_item],
        "payment_terms": None,
        "refunds": [],
        "shipping_address": _address("Jon", "Snow"),
        "shipping_lines": [],
    }
    return _delivery("orders/create", order)


def _customers_data_request() -> SampleDelivery:
    # The mandatory compliance webhook: a customer asked the shop for their data; the app has 30 days to provide it.
    return _delivery(
        "customers/data_request",
        {
            "shop_id": SHOP_ID,
            "shop_domain": SHOP_DOMAIN,
            "orders_requested": [ORDER_ID, 6154913497126],
            "customer": {"id": CUSTOMER_ID, "email": "jon.snow@example.com", "phone": "+16135550123"},
            "data_request": {"id": 9999001},
        },
    )


def _app_uninstalled() -> SampleDelivery:
    # The body is the shop resource.
    return _delivery(
        "app/uninstalled",
        {
            "id": SHOP_ID,
            "name": "Gateway Sample",
            "email": "owner@gateway-sample.example",
            "domain": "shop.gateway-sample.example",
            "province": "Ontario",
            "country": "CA",
            "address1": "151 O'Connor Street",
            "zip": "K2P 2L8",
            "city": "Ottawa",
            "source": None,
            "phone": "+16135550100",
            "latitude": 45.4169,
            "longitude": -75.6981,
            "primary_locale": "en",
            "address2": "",
            "created_at": _iso(SAMPLE_DELIVERY_TIME - 86400 * 400),
            "updated_at": _iso(SAMPLE_DELIVERY_TIME - 5),
            "country_code": "CA",
            "country_name": "Canada",
            "currency": "CAD",
            "customer_email": "hello@gateway-sample.example",
            "timezone": "(GMT-05:00) America/New_York",
            "iana_timezone": "America/New_York",
            "shop_owner": "Arya Stark",
            "money_format": "${{amount}}",
            "money_with_currency_format": "${{amount}} CAD",
            "weight_unit": "kg",
            "province_code": "ON",
            "taxes_included": False,
            "tax_shipping": None,
            "county_taxes": True,
            "plan_display_name": "Basic",
            "plan_name": "basic",
            "has_discounts": False,
            "has_gift_cards": False,
            "myshopify_domain": SHOP_DOMAIN,
            "google_apps_domain": None,
            "google_apps_login_enabled": None,
            "money_in_emails_format": "${{amount}}",
            "money_with_currency_in_emails_format": "${{amount}} CAD",
            "eligible_for_payments": True,
            "requires_extra_payments_agreement": False,
            "password_enabled": False,
            "has_storefront": True,
            "finances": True,
            "primary_location_id": 71234568229,
            "checkout_api_supported": True,
            "multi_location_enabled": True,
            "setup_required": False,
            "pre_launch_enabled": False,
            "enabled_presentment_currencies": ["CAD"],
            "marketing_sms_consent_enabled_at_checkout": False,
            "transactional_sms_disabled": False,
        },
    )


def new_delivery_id() -> str:
    """A fresh ``X-Shopify-Webhook-Id`` (a UUID)."""
    return str(uuid.uuid4())


def with_delivery_id(sample: SampleDelivery, delivery_id: str) -> SampleDelivery:
    """``delivery_id`` as the webhook id, with an event id of its own; ids are plain headers, and each real delivery
    also has its own body (another order, another data request), which the consumer's body check needs."""
    headers = {
        **sample.headers,
        "x-shopify-webhook-id": delivery_id,
        "x-shopify-event-id": sample_uuid(f"shopify:event:{delivery_id}"),
    }
    document = json.loads(sample.body)
    number = int(hashlib.sha256(delivery_id.encode("utf-8")).hexdigest()[:12], 16)
    if "data_request" in document:
        document["data_request"] = {"id": number}
    elif "myshopify_domain" in document:
        document["updated_at"] = _iso(SAMPLE_DELIVERY_TIME - 5 - number % 10**8)  # the shop's last change
    else:
        document["id"] = number
        document["admin_graphql_api_id"] = f"gid://shopify/Order/{number}"
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return SampleDelivery(body, headers, sample.content_type, sample.source_ip)


SAMPLES = Samples(
    sign=sign,
    kinds={
        "orders_create": _orders_create,
        "customers_data_request": _customers_data_request,
        "app_uninstalled": _app_uninstalled,
    },
    with_delivery_id=with_delivery_id,
    new_delivery_id=new_delivery_id,
)
