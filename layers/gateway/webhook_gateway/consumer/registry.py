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

The application's handlers live in ``functions/consumer/consumer_handlers/`` and register on :data:`default_registry`
when ``consumer_app`` imports that package. Tests build their own :class:`Registry` instead of sharing the default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from webhook_gateway.consumer.events import WebhookEvent

Handler = Callable[["WebhookEvent"], object]
H = TypeVar("H", bound=Handler)

WILDCARD = "*"


class Registry:
    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Handler] = {}
        # provider -> [(prefix, handler)], longest prefix first
        self._prefixes: dict[str, list[tuple[str, Handler]]] = {}
        self._any: dict[str, Handler] = {}
        self._resolved: dict[tuple[str, str], Handler | None] = {}

    def on(self, provider: str, event_type: str = WILDCARD) -> Callable[[H], H]:
        """Decorator: register the function for ``provider``'s ``event_type`` (see the module doc for patterns)."""

        def decorator(handler: H) -> H:
            self.register(provider, event_type, handler)
            return handler

        return decorator

    def register(self, provider: str, event_type: str, handler: Handler) -> None:
        if not provider or provider == WILDCARD or not event_type:
            raise ValueError("register a handler for one named provider and a non-empty event type pattern")
        if event_type == WILDCARD:
            self._add_unique(self._any, provider, handler, provider, event_type)
        elif event_type.endswith(WILDCARD):
            prefix = event_type[:-1]
            if WILDCARD in prefix:
                raise ValueError(f"only a trailing '*' is supported in an event type pattern: {event_type!r}")
            entries = self._prefixes.setdefault(provider, [])
            if any(existing == prefix for existing, _ in entries):
                raise ValueError(f"a handler is already registered for {provider} {event_type}")
            entries.append((prefix, handler))
            entries.sort(key=lambda entry: len(entry[0]), reverse=True)
        else:
            if WILDCARD in event_type:
                raise ValueError(f"only a trailing '*' is supported in an event type pattern: {event_type!r}")
            self._add_unique(self._exact, (provider, event_type), handler, provider, event_type)
        self._resolved.clear()

    def resolve(self, provider: str, event_type: str) -> Handler | None:
        """The handler for this delivery, or None when nothing is registered for it (cached per pair)."""
        key = (provider, event_type)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        handler = self._exact.get(key)
        if handler is None:
            handler = next(
                (entry for prefix, entry in self._prefixes.get(provider, ()) if event_type.startswith(prefix)), None
            )
        if handler is None:
            handler = self._any.get(provider)
        self._resolved[key] = handler
        return handler

    def routes(self) -> list[tuple[str, str, str]]:
        """(provider, pattern, handler name) for every registration, for docs, tests and start-up logs."""
        rows = [(provider, event_type, _name(handler)) for (provider, event_type), handler in self._exact.items()]
        rows += [(p, prefix + WILDCARD, _name(h)) for p, entries in self._prefixes.items() for prefix, h in entries]
        rows += [(provider, WILDCARD, _name(handler)) for provider, handler in self._any.items()]
        return sorted(rows)

    def __len__(self) -> int:
        return len(self._exact) + sum(map(len, self._prefixes.values())) + len(self._any)

    @staticmethod
    def _add_unique(table: dict, key: object, handler: Handler, provider: str, event_type: str) -> None:
        if key in table:
            raise ValueError(f"a handler is already registered for {provider} {event_type}: {_name(table[key])}")
        table[key] = handler


def _name(handler: Handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


default_registry = Registry()
on = default_registry.on
