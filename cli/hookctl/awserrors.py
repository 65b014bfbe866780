"""Credential, configuration and endpoint problems, told apart from every other AWS failure.

An operator who has no credentials, a mistyped profile or an unreachable endpoint must read that, not a symptom of
it ("ledger table name is unknown"), and a script must be able to tell it from a failed command: these problems have
their own exit codes (docs/cli.md). Only botocore is imported, and only when a problem is classified.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_CREDENTIALS = 3  # no credentials, unknown profile, no region, credentials refused by AWS
EXIT_ENDPOINT = 4  # the AWS endpoint (or the local one) cannot be reached; `--local` with no `hookctl dev` running

# Error codes by which AWS refuses the credentials themselves (not a missing permission: AccessDenied stays an AWS
# error of the command, exit 1).
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "AuthFailure",
        "RequestExpired",
    }
)

NO_CREDENTIALS_HINT = "set AWS_PROFILE, run `aws configure`, or use --local"


@dataclass(frozen=True)
class AwsProblem:
    message: str
    exit_code: int


def classify(exc: BaseException, *, endpoint_url: str | None = None) -> AwsProblem | None:
    """The operator-facing problem ``exc`` is, when it is about credentials, configuration or reaching the endpoint;
    None for any other failure (the command's own AWS errors)."""
    from botocore import exceptions as bce

    if isinstance(exc, bce.NoCredentialsError):
        return AwsProblem(f"no AWS credentials found ({NO_CREDENTIALS_HINT})", EXIT_CREDENTIALS)
    if isinstance(exc, bce.PartialCredentialsError):
        return AwsProblem(f"incomplete AWS credentials: {exc} ({NO_CREDENTIALS_HINT})", EXIT_CREDENTIALS)
    if isinstance(exc, bce.ProfileNotFound):
        profile = getattr(exc, "kwargs", {}).get("profile") or "?"
        return AwsProblem(
            f"AWS profile {profile!r} not found (--profile or AWS_PROFILE; `aws configure list-profiles` lists "
            "them, `aws configure --profile NAME` creates one)",
            EXIT_CREDENTIALS,
        )
    if isinstance(exc, bce.NoRegionError):
        return AwsProblem(
            "no AWS region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or use --local", EXIT_CREDENTIALS
        )
    if isinstance(
        exc,
        bce.SSOTokenLoadError | bce.UnauthorizedSSOTokenError | bce.TokenRetrievalError | bce.CredentialRetrievalError,
    ):
        return AwsProblem(f"AWS credentials could not be loaded: {exc} (`aws sso login`?)", EXIT_CREDENTIALS)
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectTimeoutError | bce.ProxyConnectionError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint_url or "the AWS endpoint"
        return AwsProblem(
            f"cannot reach {url} ({type(exc).__name__}): check the network, --endpoint-url / AWS_ENDPOINT_URL, "
            "--region; with --local, is `hookctl dev` still running?",
            EXIT_ENDPOINT,
        )
    if isinstance(exc, bce.ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or "")
        if code in CREDENTIAL_ERROR_CODES:
            message = " ".join(str(exc.response.get("Error", {}).get("Message") or "").split())
            return AwsProblem(
                f"AWS refused the credentials ({exc.operation_name}: {code}: {message}); renew them "
                f"({NO_CREDENTIALS_HINT})",
                EXIT_CREDENTIALS,
            )
    return None


def is_problem(exc: BaseException) -> bool:
    return classify(exc) is not None
