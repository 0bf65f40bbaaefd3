"""EVENT_AUTH=oidc: tokens signed with a local key, the JWKS served by a real HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from knative_events.app import create_app
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.settings import Settings, SettingsError

pytestmark = pytest.mark.integration

AUDIENCE = "serving.knative.dev/service/team-dev/orders"
ISSUER = "https://kubernetes.default.svc.cluster.local"
EVENT = {
    "ce-specversion": "1.0",
    "ce-id": "1",
    "ce-source": "/t",
    "ce-type": "test.accept",
    "content-type": "application/json",
}
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


class Issuer:
    """A JWKS endpoint on 127.0.0.1 that counts its requests and can be switched off."""

    def __init__(self) -> None:
        jwks = [
            {**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "rsa-1", "use": "sig"},
            {**json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key())), "kid": "ec-1", "use": "sig"},
        ]
        self.body = json.dumps({"keys": jwks}).encode()
        self.requests = 0
        self.up = True
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests += 1
                status = 200 if issuer.up else 500
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(issuer.body)))
                self.end_headers()
                self.wfile.write(issuer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/openid/v1/jwks"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    served = Issuer()
    thread = threading.Thread(target=served.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
async def client(issuer: Issuer, registry: HandlerRegistry) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        environ={},
        event_auth="oidc",
        event_audience=AUDIENCE,
        oidc_jwks_url=issuer.url,
        oidc_issuer=ISSUER,
        log_level="WARNING",
    )
    app = create_app(settings, registry=registry)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http


def token(key: Any = KEY, kid: str = "rsa-1", algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "system:serviceaccount:knative-eventing:x"}
    payload |= {"iat": now, "exp": now + 300, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


async def post(http: httpx.AsyncClient, *authorization: str) -> httpx.Response:
    headers = list(EVENT.items()) + [("authorization", value) for value in authorization]
    return await http.post("/", headers=headers, content=b"{}")


async def test_a_valid_token_is_admitted(client: httpx.AsyncClient) -> None:
    assert (await post(client, f"Bearer {token()}")).status_code == 202
    ec_token = token(EC_KEY, kid="ec-1", algorithm="ES256")
    assert (await post(client, f"bearer {ec_token}")).status_code == 202


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param((), id="no header"),
        pytest.param(("Basic dXNlcjpwdw==",), id="not bearer"),
        pytest.param(("Bearer not-a-jwt",), id="not a jwt"),
        pytest.param((f"Bearer {token(aud='someone-else')}",), id="wrong audience"),
        pytest.param((f"Bearer {token(aud=None)}",), id="no audience"),
        pytest.param((f"Bearer {token(exp=int(time.time()) - 60)}",), id="expired"),
        pytest.param((f"Bearer {token(exp=None)}",), id="no expiry"),
        pytest.param((f"Bearer {token(iss='https://evil.example')}",), id="wrong issuer"),
        pytest.param((f"Bearer {token(OTHER_KEY)}",), id="another key, same kid"),
        pytest.param((f"Bearer {token(kid='unknown')}",), id="unknown kid"),
        pytest.param(
            (f"Bearer {token('a-shared-secret-of-at-least-32-bytes', algorithm='HS256')}",),
            id="symmetric",
        ),
        pytest.param((f"Bearer {token()}", f"Bearer {token()}"), id="two headers"),
    ],
)
async def test_anything_else_is_a_401_problem(
    client: httpx.AsyncClient, authorization: tuple[str, ...]
) -> None:
    response = await post(client, *authorization)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"] == "/problems/unauthorized"


async def test_an_unsigned_token_is_a_401(client: httpx.AsyncClient) -> None:
    unsigned = jwt.encode({"aud": AUDIENCE, "exp": int(time.time()) + 60}, None, algorithm="none")
    assert (await post(client, f"Bearer {unsigned}")).status_code == 401


async def test_unknown_kids_cannot_make_the_service_hammer_the_issuer(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    assert (await post(client, f"Bearer {token()}")).status_code == 202
    fetched = issuer.requests
    for i in range(20):
        assert (await post(client, f"Bearer {token(kid=f'random-{i}')}")).status_code == 401
    assert issuer.requests == fetched  # within REFETCH_SECONDS of the last fetch: no fetch


async def test_an_unreachable_issuer_is_a_503_so_the_broker_retries(
    client: httpx.AsyncClient, issuer: Issuer
) -> None:
    issuer.up = False
    response = await post(client, f"Bearer {token()}")
    assert response.status_code == 503
    assert "retry-after" in response.headers


def test_oidc_needs_an_audience() -> None:
    with pytest.raises(SettingsError, match="EVENT_AUDIENCE"):
        Settings(environ={"EVENT_AUTH": "oidc"})
    with pytest.raises(SettingsError, match="none or oidc"):
        Settings(environ={"EVENT_AUTH": "jwt"})
