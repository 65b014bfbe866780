"""hookctl: the operator CLI of the webhook gateway (deliveries ledger, dead-letter queue).

Standard library + boto3 only, so that it installs anywhere an operator has AWS credentials.
"""

__version__ = "0.1.0"
