"""One client for the Cloud Logging v2 REST API: JSON requests on google-auth's session.

    from queries.logging_client import LoggingClient

    client = LoggingClient(endpoint, access_token=token)           # or credentials=...,
    reply = client.request("POST", "entries:list", {"filter": ...})  # else Application
    reply.ok, reply.status, reply.body, reply.message, reply.retry_after  # Default Credentials

Both users of the API go through it: ``analyzers.sources.cloud_logging`` reads entries
(``entries.list``, paged, retried on quota) and ``queries.logging_api`` installs saved queries
and log-based metrics. It is ``google.auth.transport.requests.AuthorizedSession`` (tokens
attached and refreshed by google-auth) plus the API's JSON and error shapes; each caller
decides what a status means for it. HTTP errors come back as replies; only what prevents a
reply at all (no credentials, authentication refused, endpoint unreachable) raises
:class:`LoggingUnavailable`, whose message never holds a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from instrumentation.redaction import redact_text

DEFAULT_ENDPOINT = "https://logging.googleapis.com"
READ_SCOPE = "https://www.googleapis.com/auth/logging.read"
ADMIN_SCOPE = "https://www.googleapis.com/auth/logging.admin"


class LoggingUnavailable(RuntimeError):
    """No reply from the Logging API: no credentials, authentication refused, unreachable."""


@dataclass(frozen=True)
class Reply:
    """One HTTP reply: status, JSON body (``{}`` when empty) and headers."""

    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_status(self) -> str:
        """The API's error status name (``RESOURCE_EXHAUSTED``, ...), or ""."""
        return str((self.body.get("error") or {}).get("status") or "")

    @property
    def message(self) -> str:
        """The API's error message (or the body, when it has none)."""
        error = self.body.get("error") or {}
        return str(error.get("message") or self.body)

    @property
    def retry_after(self) -> float:
        """Seconds the server asked to wait (``Retry-After``), 0 when it did not say."""
        try:
            return float(self.headers.get("Retry-After", 0))
        except (TypeError, ValueError):
            return 0.0


class LoggingClient:
    """JSON requests to ``{endpoint}/v2/...`` with Google credentials.

    Credentials, first that applies: ``credentials`` (e.g. ``AnonymousCredentials()`` for a
    local emulator), ``access_token`` (``gcloud auth print-access-token``), else Application
    Default Credentials for ``scopes``, looked up on the first request.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, *, credentials: Any = None,
                 access_token: str | None = None, scopes: tuple[str, ...] = (READ_SCOPE,),
                 timeout: float = 60.0, user_agent: str = "rhesis-logs") -> None:
        self.endpoint = endpoint.rstrip("/")
        self.credentials = credentials
        self.access_token = access_token
        self.scopes = scopes
        self.timeout = timeout
        self.user_agent = user_agent
        self._session: Any = None

    def session(self) -> Any:
        """The authorized ``requests`` session (credentials looked up once)."""
        if self._session is None:
            from google.auth.transport.requests import AuthorizedSession

            # A 401 is an answer to report (a wrong or expired --access-token), not a cue to
            # refresh: a bare token cannot be refreshed, and google-auth refreshes expired
            # Application Default Credentials before each request anyway.
            self._session = AuthorizedSession(self._credentials(), refresh_status_codes=())
            self._session.headers["User-Agent"] = self.user_agent
        return self._session

    def _credentials(self) -> Any:
        if self.credentials is not None:
            return self.credentials
        if self.access_token is not None:
            from google.oauth2.credentials import Credentials

            return Credentials(token=self.access_token)
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=list(self.scopes))
        except DefaultCredentialsError as exc:
            raise LoggingUnavailable(
                "no Google Cloud credentials: run `gcloud auth application-default login` "
                "or set GOOGLE_APPLICATION_CREDENTIALS") from exc
        return credentials

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                **query: str) -> Reply:
        """One JSON request to ``/v2/{path}``; HTTP errors are replies, not exceptions."""
        import requests
        from google.auth.exceptions import GoogleAuthError

        url = f"{self.endpoint}/v2/{path.lstrip('/')}"
        session = self.session()
        try:
            response = session.request(method, url, json=body, params=query or None,
                                       timeout=self.timeout)
        except GoogleAuthError as exc:
            raise LoggingUnavailable(
                f"Google Cloud authentication failed: {type(exc).__name__}") from None
        except (requests.RequestException, OSError) as exc:
            raise LoggingUnavailable(
                f"cannot reach Cloud Logging at {self.endpoint}: {redact_text(str(exc))}"
            ) from None
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {"error": {"message": response.text[:500]}}
        if not isinstance(payload, dict):
            payload = {"error": {"message": str(payload)[:500]}}
        return Reply(response.status_code, payload, dict(response.headers))
