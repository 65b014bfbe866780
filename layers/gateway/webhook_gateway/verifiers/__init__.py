"""Provider verifiers, one module per provider. A module is found by the provider's name: adding a provider means
adding ``verifiers/<name>.py`` with a ``PROVIDER`` (see ``base.py``), a template block, a sample event and tests."""

from __future__ import annotations

import importlib
import re

from webhook_gateway.verifiers.base import Provider

_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_]*")


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
