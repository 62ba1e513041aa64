"""A small OpenID Connect provider for the tests, served on loopback: discovery, an authorization endpoint that
signs in a preset user (no consent page), a token endpoint issuing an RS256-signed ID token (with the
client's nonce), and a JWKS. It checks the client id, secret and redirect address, and each code is single
use, as a real provider (Microsoft Entra ID) would."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import flask
from authlib.jose import JsonWebKey, jwt
from werkzeug.serving import make_server

__all__ = ["Provider", "serve"]


class Provider:
    def __init__(self, client_id: str, client_secret: str, email: str, subject: str = "user-1",
                 issuer_claim: str | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.email, self.subject = email, subject
        self.issuer_claim = issuer_claim  # a different ``iss`` in the tokens than the provider's own (to refuse)
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key"})
        self.codes: dict[str, dict] = {}
        self.issuer = ""
        self.app = self._app()

    def _app(self) -> flask.Flask:
        app = flask.Flask("oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                    "userinfo_endpoint": f"{self.issuer}/userinfo", "response_types_supported": ["code"],
                    "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}

        @app.get("/jwks")
        def jwks() -> Any:
            return {"keys": [self.key.as_dict(is_private=False)]}

        @app.get("/authorize")
        def authorize() -> Any:
            args = flask.request.args
            if args.get("client_id") != self.client_id or args.get("response_type") != "code":
                return "bad client", 400
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"redirect_uri": args["redirect_uri"], "nonce": args.get("nonce")}
            return flask.redirect(args["redirect_uri"] + "?" + urlencode({"code": code, "state": args.get("state")}))

        @app.post("/token")
        def token() -> Any:
            form = flask.request.form
            auth = flask.request.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            else:
                cid, secret = form.get("client_id", ""), form.get("client_secret", "")
            if (cid, secret) != (self.client_id, self.client_secret):
                return {"error": "invalid_client"}, 401
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                return {"error": "invalid_grant"}, 400
            now = int(time.time())
            claims = {"iss": self.issuer_claim or self.issuer, "sub": self.subject, "aud": self.client_id,
                      "iat": now, "exp": now + 300, "email": self.email, "name": "Test Person"}
            if grant["nonce"]:
                claims["nonce"] = grant["nonce"]
            id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key).decode()
            return {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                    "id_token": id_token}

        @app.get("/userinfo")
        def userinfo() -> Any:
            return {"sub": self.subject, "email": self.email}

        return app


@contextmanager
def serve(provider: Provider) -> Iterator[str]:
    """Serve ``provider`` on a free loopback port; yields its issuer URL."""
    server = make_server("127.0.0.1", 0, provider.app, threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider.issuer
    finally:
        server.shutdown()
        thread.join(timeout=10)
