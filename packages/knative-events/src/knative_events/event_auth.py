"""Who sent this event: the OIDC token Knative Eventing attaches (``EVENT_AUTH=oidc``).

With Eventing's sender identity (the ``authentication-oidc`` feature), the broker's
dispatcher asks the Kubernetes API for a token of its own service account, with the
audience the Trigger names (``spec.subscriber.audience``), and sends it as
``Authorization: Bearer <JWT>``. This module checks that token before the event is read:

* the signature, against the keys of the cluster's service-account issuer (its JWKS,
  ``OIDC_JWKS_URL``, by default the API server's ``/openid/v1/jwks``);
* the audience (``EVENT_AUDIENCE``, the one the Trigger names) and the expiry, both
  required; the issuer too when ``OIDC_ISSUER`` is set;
* an asymmetric algorithm only (``RS*``, ``ES*``, ``PS*``), and the key the token's
  ``kid`` names.

Anything else is a 401 problem with ``WWW-Authenticate: Bearer``; a JWKS that cannot be
fetched is a 503, so the broker retries instead of dropping the event.

PyJWT (the ``oidc`` extra) does the cryptography and reads the JWKS; this module only keeps
the keys between fetches, so an unknown ``kid`` costs at most one fetch per
``REFETCH_SECONDS`` (a sender cannot make the service hammer the API server) and the
event loop never waits on the network (fetches run in a thread).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Final

from .cloudevents.errors import DependencyUnavailableError, EventUnauthorizedError
from .cloudevents.problem import problem_parts

try:
    import jwt
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError(
        "EVENT_AUTH=oidc needs the oidc extra: knative-events[oidc] (PyJWT with cryptography)"
    ) from error

#: Where a pod finds its own token and the API server's CA (for the default JWKS URL).
SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_JWKS_URL: Final = "https://kubernetes.default.svc/openid/v1/jwks"
#: Keys are fetched again after this long, and at most this often for an unknown kid.
KEYS_LIFESPAN_SECONDS: Final = 300.0
REFETCH_SECONDS: Final = 30.0
FETCH_TIMEOUT_SECONDS: Final = 5.0
LEEWAY_SECONDS: Final = 5
ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}
)
_BEARER: Final = "bearer"


class TokenVerifier:
    """Verifies bearer tokens against one issuer's JWKS, for one audience."""

    def __init__(
        self,
        jwks_url: str,
        audience: str,
        *,
        issuer: str | None = None,
        credentials: Path | None = SERVICE_ACCOUNT_DIR,
    ) -> None:
        self.audience = audience
        self.issuer = issuer
        self._credentials = credentials
        context = None
        ca = credentials / "ca.crt" if credentials is not None else None
        if jwks_url.startswith("https://") and ca is not None and ca.is_file():
            context = ssl.create_default_context(cafile=str(ca))
        self._client = jwt.PyJWKClient(
            jwks_url,
            cache_jwk_set=False,  # the keys are kept here, with the refetch limit
            timeout=FETCH_TIMEOUT_SECONDS,
            ssl_context=context,
        )
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")
        self._lock = asyncio.Lock()

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or :class:`EventUnauthorizedError` (401)."""
        if authorization is None:
            raise _unauthorized("the request has no Authorization header; send a bearer token")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != _BEARER or not token:
            raise _unauthorized("the Authorization header is not 'Bearer <token>'")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"the bearer token is not a JWT: {exc}") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise _unauthorized(f"the token's algorithm {algorithm!r} is not accepted")
        key = await self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "aud", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"the bearer token is not accepted: {exc}") from None
        return claims

    async def _key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise _unauthorized("the token names no key (kid)")
        now = time.monotonic()
        key = self._keys.get(kid)
        stale = now - self._fetched_at > KEYS_LIFESPAN_SECONDS
        if key is not None and not stale:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            stale = time.monotonic() - self._fetched_at > KEYS_LIFESPAN_SECONDS
            may_refetch = time.monotonic() - self._fetched_at > REFETCH_SECONDS
            if (key is None and may_refetch) or stale:
                await self._fetch()
                key = self._keys.get(kid)
        if key is None:
            raise _unauthorized(f"the token's key {kid!r} is not one of the issuer's keys")
        return key

    async def _fetch(self) -> None:
        try:
            keys = await asyncio.to_thread(self._fetch_keys)
        except (jwt.PyJWKClientError, OSError) as exc:
            raise DependencyUnavailableError(
                f"the issuer's keys (JWKS) cannot be fetched: {exc}"
            ) from None
        self._keys = keys
        self._fetched_at = time.monotonic()

    def _fetch_keys(self) -> dict[str, jwt.PyJWK]:
        """In a thread: the issuer's signing keys by kid (the pod's token, when it has one,
        authenticates the request: the API server serves its JWKS to service accounts)."""
        token = self._credentials / "token" if self._credentials is not None else None
        if token is not None and token.is_file():  # read each time: projected tokens rotate
            self._client.headers = {"Authorization": f"Bearer {token.read_text().strip()}"}
        jwk_set = self._client.get_jwk_set(refresh=True)
        return {key.key_id: key for key in jwk_set.keys if key.key_id}


def _unauthorized(detail: str) -> EventUnauthorizedError:
    return EventUnauthorizedError(
        detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


class EventGate:
    """Lets an event request through only with a valid token; answers 401/503 itself."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier

    async def admits(self, scope: MutableMapping[str, Any], send: Any) -> bool:
        """True to go on; False once the refusal has been sent."""
        values = [v for n, v in scope["headers"] if n.lower() == b"authorization"]
        try:
            if len(values) > 1:  # which one would count is the sender's choice
                raise _unauthorized("the Authorization header is sent more than once")
            await self.verifier.verify(values[0].decode("latin-1") if values else None)
        except (EventUnauthorizedError, DependencyUnavailableError) as error:
            status, headers, body = problem_parts(error)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return False
        return True
