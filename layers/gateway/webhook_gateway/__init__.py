"""Inbound webhook gateway: provider verifiers, the queue contract, the receiver and the consumer's ledger."""

__version__ = "0.1.0"
