"""Where business logic plugs in: plain functions registered per provider and event type.

    from webhook_gateway.consumer.registry import on
    from webhook_gateway.consumer.events import WebhookEvent

    @on("stripe", "payment_intent.succeeded")
    def payment_succeeded(event: WebhookEvent) -> None:
        ...

Patterns, from the most to the least specific (the first match wins, whatever the registration order):

* ``"payment_intent.succeeded"``: exactly that event type;
* ``"payment_intent.*"``: any event type starting with ``"payment_intent."`` (the longest matching prefix wins);
* ``"*"``: any event type of that provider.

A delivery nothing matches is acknowledged and recorded as skipped (see the processor), never retried. Registering
two handlers for the same provider and pattern is an error: one obvious owner per event.

A route may opt in to the ordering guard (``webhook_gateway.consumer.ordering``)::

    @on("stripe", "customer.subscription.*", ordered_by=stripe_object_version)

``ordered_by`` maps an event to (object key, version); an event older than the newest one already handed to a
handler for that object is recorded ``stale`` and not run, or run with ``event.stale`` True when the route says
``deliver_stale=True``. ``order_namespace`` names the watermark's partition (default: the provider), so that two
routes (or two providers) can share one object's watermark, or keep theirs apart.

The application's handlers live in ``functions/consumer/consumer_handlers/`` and register on :data:`default_registry`
when ``consumer_app`` imports that package. Tests build their own :class:`Registry` instead of sharing the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from webhook_gateway.consumer.events import WebhookEvent
    from webhook_gateway.consumer.ordering import Extractor

Handler = Callable[["WebhookEvent"], object]
H = TypeVar("H", bound=Handler)

WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class Route:
    """A registered handler and its options (what :meth:`Registry.resolve_route` returns)."""

    handler: Handler
    # The ordering guard's extractor (webhook_gateway.consumer.ordering), or None: not guarded.
    ordered_by: Extractor | None = None
    # A stale event is handed to the handler with event.stale True instead of being recorded stale unrun.
    deliver_stale: bool = False
    # The watermark's partition is "<order_namespace>#order"; None: the provider's name.
    order_namespace: str | None = None


class Registry:
    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Route] = {}
        # provider -> [(prefix, route)], longest prefix first
        self._prefixes: dict[str, list[tuple[str, Route]]] = {}
        self._any: dict[str, Route] = {}
        self._resolved: dict[tuple[str, str], Route | None] = {}

    def on(
        self,
        provider: str,
        event_type: str = WILDCARD,
        *,
        ordered_by: Extractor | None = None,
        deliver_stale: bool = False,
        order_namespace: str | None = None,
    ) -> Callable[[H], H]:
        """Decorator: register the function for ``provider``'s ``event_type`` (see the module doc for patterns and
        the ordering options)."""

        def decorator(handler: H) -> H:
            self.register(
                provider,
                event_type,
                handler,
                ordered_by=ordered_by,
                deliver_stale=deliver_stale,
                order_namespace=order_namespace,
            )
            return handler

        return decorator

    def register(
        self,
        provider: str,
        event_type: str,
        handler: Handler,
        *,
        ordered_by: Extractor | None = None,
        deliver_stale: bool = False,
        order_namespace: str | None = None,
    ) -> None:
        if not provider or provider == WILDCARD or not event_type:
            raise ValueError("register a handler for one named provider and a non-empty event type pattern")
        if ordered_by is None and (deliver_stale or order_namespace is not None):
            raise ValueError("deliver_stale and order_namespace only apply to a route with ordered_by")
        if order_namespace is not None and (not order_namespace or "#" in order_namespace):
            raise ValueError("order_namespace must be a non-empty name without '#'")
        route = Route(handler, ordered_by, deliver_stale, order_namespace)
        if event_type == WILDCARD:
            self._add_unique(self._any, provider, route, provider, event_type)
        elif event_type.endswith(WILDCARD):
            prefix = event_type[:-1]
            if WILDCARD in prefix:
                raise ValueError(f"only a trailing '*' is supported in an event type pattern: {event_type!r}")
            entries = self._prefixes.setdefault(provider, [])
            if any(existing == prefix for existing, _ in entries):
                raise ValueError(f"a handler is already registered for {provider} {event_type}")
            entries.append((prefix, route))
            entries.sort(key=lambda entry: len(entry[0]), reverse=True)
        else:
            if WILDCARD in event_type:
                raise ValueError(f"only a trailing '*' is supported in an event type pattern: {event_type!r}")
            self._add_unique(self._exact, (provider, event_type), route, provider, event_type)
        self._resolved.clear()

    def resolve(self, provider: str, event_type: str) -> Handler | None:
        """The handler for this delivery, or None when nothing is registered for it (cached per pair)."""
        route = self.resolve_route(provider, event_type)
        return None if route is None else route.handler

    def resolve_route(self, provider: str, event_type: str) -> Route | None:
        """The route (handler and options) for this delivery, or None when nothing is registered (cached per pair)."""
        key = (provider, event_type)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        route = self._exact.get(key)
        if route is None:
            route = next(
                (entry for prefix, entry in self._prefixes.get(provider, ()) if event_type.startswith(prefix)), None
            )
        if route is None:
            route = self._any.get(provider)
        self._resolved[key] = route
        return route

    def routes(self) -> list[tuple[str, str, str]]:
        """(provider, pattern, handler name) for every registration, for docs, tests and start-up logs."""
        rows = [(provider, event_type, _name(route.handler)) for (provider, event_type), route in self._exact.items()]
        rows += [
            (p, prefix + WILDCARD, _name(r.handler)) for p, entries in self._prefixes.items() for prefix, r in entries
        ]
        rows += [(provider, WILDCARD, _name(route.handler)) for provider, route in self._any.items()]
        return sorted(rows)

    def __len__(self) -> int:
        return len(self._exact) + sum(map(len, self._prefixes.values())) + len(self._any)

    @staticmethod
    def _add_unique(table: dict, key: object, route: Route, provider: str, event_type: str) -> None:
        if key in table:
            raise ValueError(
                f"a handler is already registered for {provider} {event_type}: {_name(table[key].handler)}"
            )
        table[key] = route


def _name(handler: Handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


default_registry = Registry()
on = default_registry.on
