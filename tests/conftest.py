"""Suite-wide safety net: no test may reach real AWS, and Powertools behaves as it does in Lambda."""

import os

# Set before any boto3 client exists: fake credentials, a fixed region, and no endpoint inherited from a shell.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "WebhookGateway",
        "POWERTOOLS_SERVICE_NAME": "webhook-gateway-tests",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

# Session-wide log hygiene: the run fails if any log record at INFO or above holds a test secret, a signature or
# sample payload data (tests/log_hygiene.py).
from tests.log_hygiene import log_hygiene  # noqa: E402, F401

# The end-to-end reports are printed at the end of the run (pytest captures the tests' own output). A test hands its
# report over as a user property, which pytest-xdist carries from the worker that ran it to the process that prints.
REPORT_PROPERTY = "end_to_end_report"
_REPORTS: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _REPORTS.extend(value for name, value in report.user_properties if name == REPORT_PROPERTY)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 (pytest's hook signature)
    for text in _REPORTS:
        terminalreporter.write_sep("-", "end-to-end reliability")
        terminalreporter.write_line(text)
