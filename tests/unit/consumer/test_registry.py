from __future__ import annotations

import pytest

from webhook_gateway.consumer.registry import Registry


def handler_named(name: str):
    def handler(event) -> None:
        return None

    handler.__qualname__ = name
    return handler


def test_the_most_specific_pattern_wins_whatever_the_registration_order():
    # Given handlers for a provider wildcard, two prefixes and an exact type, registered broadest first
    registry = Registry()
    anything, customer, subscription, created = (handler_named(n) for n in ("any", "cus", "sub", "created"))
    registry.on("stripe")(anything)
    registry.on("stripe", "customer.*")(customer)
    registry.on("stripe", "customer.subscription.*")(subscription)
    registry.on("stripe", "customer.subscription.created")(created)

    # When event types are resolved
    # Then exact beats the longest prefix, which beats a shorter one, which beats the wildcard
    assert registry.resolve("stripe", "customer.subscription.created") is created
    assert registry.resolve("stripe", "customer.subscription.deleted") is subscription
    assert registry.resolve("stripe", "customer.updated") is customer
    assert registry.resolve("stripe", "charge.refunded") is anything


def test_nothing_registered_resolves_to_none():
    # Given a handler for one Stripe event only
    registry = Registry()
    registry.on("stripe", "payment_intent.succeeded")(handler_named("paid"))

    # When other event types or providers are resolved
    # Then there is no handler (the processor records them as skipped)
    assert registry.resolve("stripe", "payment_intent.created") is None
    assert registry.resolve("github", "payment_intent.succeeded") is None


def test_the_decorator_returns_the_function_and_one_function_may_take_several_patterns():
    # Given one function registered under two patterns
    registry = Registry()

    @registry.on("github", "pull_request")
    @registry.on("github", "pull_request.*")
    def pull_request(event) -> None:
        return None

    # When both kinds of event type are resolved
    # Then both reach the (undecorated) function
    assert registry.resolve("github", "pull_request") is pull_request
    assert registry.resolve("github", "pull_request.opened") is pull_request
    assert len(registry) == 2


def test_a_later_registration_invalidates_cached_resolutions():
    # Given a resolution cached as "no handler"
    registry = Registry()
    assert registry.resolve("twilio", "sms") is None

    # When a wildcard handler is registered afterwards
    handler = handler_named("late")
    registry.on("twilio", "*")(handler)

    # Then it is found
    assert registry.resolve("twilio", "sms") is handler


@pytest.mark.parametrize("pattern", ["push", "pull_request.*", "*"])
def test_registering_the_same_pattern_twice_is_an_error(pattern):
    # Given a registered handler
    registry = Registry()
    registry.on("github", pattern)(handler_named("first"))

    # When another is registered for the same provider and pattern
    # Then it is refused instead of silently replacing the first
    with pytest.raises(ValueError, match="already registered"):
        registry.on("github", pattern)(handler_named("second"))


@pytest.mark.parametrize(("provider", "pattern"), [("", "push"), ("*", "push"), ("github", ""), ("github", "a*b")])
def test_invalid_registrations_are_refused(provider, pattern):
    # Given / When a registration without a named provider or with a non-trailing wildcard
    # Then it is refused
    with pytest.raises(ValueError):
        Registry().register(provider, pattern, handler_named("h"))


def test_routes_lists_every_registration():
    # Given a few registrations
    registry = Registry()
    registry.on("github", "push")(handler_named("push"))
    registry.on("twilio")(handler_named("any"))

    # When the routes are listed
    # Then each appears with its handler's name
    assert [(provider, pattern) for provider, pattern, _ in registry.routes()] == [("github", "push"), ("twilio", "*")]


def test_a_route_carries_its_ordering_options_and_resolve_still_returns_the_handler():
    # Given a guarded route and a plain one
    from webhook_gateway.consumer.ordering import stripe_object_version

    registry = Registry()
    guarded, plain = handler_named("sub"), handler_named("any")
    registry.on("stripe", "customer.subscription.*", ordered_by=stripe_object_version, deliver_stale=True)(guarded)
    registry.on("stripe")(plain)

    # When routes are resolved
    route = registry.resolve_route("stripe", "customer.subscription.updated")
    other = registry.resolve_route("stripe", "invoice.paid")

    # Then the guarded one has its options, the plain one none, and resolve() keeps returning handlers
    assert route is not None and other is not None
    assert (route.handler, route.ordered_by, route.deliver_stale, route.order_namespace) == (
        guarded, stripe_object_version, True, None,
    )
    assert (other.handler, other.ordered_by, other.deliver_stale) == (plain, None, False)
    assert registry.resolve("stripe", "customer.subscription.updated") is guarded
    assert registry.resolve_route("github", "push") is None


@pytest.mark.parametrize(
    "options", [{"deliver_stale": True}, {"order_namespace": "x"}, {"ordered_by": len, "order_namespace": "a#b"}]
)
def test_ordering_options_without_an_extractor_or_with_a_bad_namespace_are_refused(options):
    with pytest.raises(ValueError):
        Registry().register("stripe", "*", handler_named("h"), **options)
