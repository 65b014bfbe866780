"""Webhook providers, each defined once, in its own module. Everything else (the receiver, the consumer's body
parsing, ``hookctl``, ``tools/make_events.py``, the tests) reads the providers from here.

Layout::

    verifiers/
        base.py            the contract: Provider and what it declares (BodyFormat, SecretFormat), Reason, Rejected
        github.py          one module per provider: its PROVIDER (verify, identify, acknowledge, forwarded headers,
        stripe.py          body format, secret format) and the name of its samples module. What the Lambda
        twilio.py          functions run: standard library only, mutation-tested (make mutants)
        samples/
            __init__.py    the sending side's contract: Samples (signer, sample kinds, delivery ids), SampleDelivery
            github.py      how the provider sends: its signer and sample deliveries (bulky payload data). Used by
            ...            hookctl, tools and tests only; never imported by a Lambda function

A provider is found by its module: :func:`load_provider` imports ``verifiers/<name>.py`` (the receiver's ``PROVIDER``
variable names it) and :func:`registered_providers` lists every provider module of the package (``base`` and the
``samples`` subpackage are not providers). Adding a provider: README.md, "Adding a provider".
"""

from __future__ import annotations

import importlib
import re

from webhook_gateway.verifiers.base import Provider

_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_]*")


def logical_name(name: str) -> str:
    """The provider (instance) name as template.yaml spells it in logical ids and outputs: ``github`` ->
    ``Github`` (``GithubReceiverFunction``, ``GithubWebhookUrl``), ``standard_webhooks`` -> ``StandardWebhooks``."""
    return "".join(part.capitalize() for part in name.split("_"))


def load_provider(name: str) -> Provider:
    if not _PROVIDER_NAME.fullmatch(name) or name == "base":
        raise ValueError(f"not a provider name: {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        raise ValueError(f"no verifier module for provider {name!r}") from error
    provider = getattr(module, "PROVIDER", None)
    if not isinstance(provider, Provider) or provider.name != name:
        raise ValueError(f"verifiers/{name}.py does not define PROVIDER for {name!r}")
    return provider


def registered_providers() -> tuple[Provider, ...]:
    """Every provider of the package, by name: each module of ``verifiers/`` (found with pkgutil on the package's
    path, so a test can add a directory to it) except ``base``; subpackages (``samples``) are not providers."""
    import pkgutil  # here, not at the top: the Lambda functions only ever load_provider(), and pkgutil imports typing

    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.ispkg and info.name != "base")
    return tuple(load_provider(name) for name in names)
