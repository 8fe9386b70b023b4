"""Authlib as a comparison peer for ``bench/compare.py``: an authorization server put together the way Authlib's
documentation puts one together (Flask, Flask-SQLAlchemy models from Authlib's mixins, a SQLite file), served by
gunicorn with two threaded workers. ``compare.py`` starts and stops it; by hand, from this folder::

    PEER_STATE=/tmp/authlib-peer ../../.venv/bin/python server.py init
    PEER_STATE=/tmp/authlib-peer ../../.venv/bin/gunicorn -b 127.0.0.1:3002 -w 2 -k gthread --threads 4 server:app

``init`` creates the schema, the two bench clients, the user and the ES256 signing key that both workers load.
``PEER_STATE`` is the folder for the SQLite file and the key (required); ``PEER_ISSUER`` defaults to
``http://127.0.0.1:3002``.

Grants: authorization_code with PKCE (S256 only, required), refresh_token (rotated on every use),
client_credentials; RFC 7662 introspection and RFC 7009 revocation; RFC 9068 JWT access tokens signed with ES256.
Signing in is automatic: ``/authorize`` grants the fixed user at once, with no session (so every authorization
costs this peer the same, whether the browser signed in before or not) and no password check.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.sqla_oauth2 import (
    OAuth2AuthorizationCodeMixin,
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_query_client_func,
    create_query_token_func,
    create_revocation_endpoint,
    create_save_token_func,
)
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import event
from sqlalchemy.engine import Engine

STATE = Path(os.environ["PEER_STATE"])
ISSUER = os.environ.get("PEER_ISSUER", "http://127.0.0.1:3002")
CALLBACK = "http://127.0.0.1:9999/cb"
SCOPES = "api:read api:write"
AUDIENCE = "urn:bench:api"
ACCESS_TTL = 3600
REFRESH_TTL = 14 * 24 * 3600
USER = ("bench-user", "bench-password")
CODE_GRANTS = ["authorization_code", "refresh_token"]
CLIENTS = (  # id, secret, token endpoint authentication, grant types
    ("bench-confidential", "bench-secret", "client_secret_basic", [*CODE_GRANTS, "client_credentials"]),
    ("bench-public", "", "none", CODE_GRANTS),
)

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{STATE / 'authlib.sqlite'}"
db = SQLAlchemy(app)


@event.listens_for(Engine, "connect")
def _wal(connection, _record):
    """A write-ahead log without a sync per commit: the same durability trade as Pixie's SQLite default."""
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), unique=True, nullable=False)

    def get_user_id(self) -> int:
        return self.id


class Client(db.Model, OAuth2ClientMixin):
    id = db.Column(db.Integer, primary_key=True)


class Code(db.Model, OAuth2AuthorizationCodeMixin):
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)


class Token(db.Model, OAuth2TokenMixin):
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"))
    access_token = db.Column(db.Text, unique=True, nullable=False)  # a JWT is longer than the mixin's 255

    def is_refresh_token_active(self) -> bool:
        return not self.refresh_token_revoked_at and self.issued_at + REFRESH_TTL > time.time()


class S256Only(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "none")

    def save_authorization_code(self, code, request):
        payload = request.payload
        row = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=payload.redirect_uri,
            scope=payload.scope,
            user_id=request.user.id,
            code_challenge=payload.data.get("code_challenge"),
            code_challenge_method=payload.data.get("code_challenge_method"),
        )
        db.session.add(row)
        db.session.commit()
        return row

    def query_authorization_code(self, code, client):
        row = Code.query.filter_by(code=code, client_id=client.client_id).first()
        return row if row is not None and not row.is_expired() else None

    def delete_authorization_code(self, authorization_code):
        db.session.delete(authorization_code)
        db.session.commit()

    def authenticate_user(self, authorization_code):
        return db.session.get(User, authorization_code.user_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "none")
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation, as OAuth 2.1 asks for public clients

    def authenticate_refresh_token(self, refresh_token):
        row = Token.query.filter_by(refresh_token=refresh_token).first()
        return row if row is not None and row.is_refresh_token_active() else None

    def authenticate_user(self, refresh_token):
        return db.session.get(User, refresh_token.user_id)

    def revoke_old_credential(self, refresh_token):
        refresh_token.access_token_revoked_at = refresh_token.refresh_token_revoked_at = int(time.time())
        db.session.commit()


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ("client_secret_basic",)

    def query_token(self, token_string, token_type_hint):
        return create_query_token_func(db.session, Token)(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        return True  # only confidential clients get here (CLIENT_AUTH_METHODS): they stand for resource servers

    def introspect_token(self, token):
        return {
            "active": True,
            "iss": ISSUER,
            "client_id": token.client_id,
            "sub": str(token.user_id) if token.user_id else token.client_id,
            "aud": AUDIENCE,
            "scope": token.get_scope(),
            "token_type": token.token_type,
            "iat": token.issued_at,
            "exp": token.issued_at + token.expires_in,
        }


class AccessTokens(JWTBearerTokenGenerator):
    def __init__(self, keys: KeySet) -> None:
        super().__init__(
            ISSUER,
            alg="ES256",
            expires_generator=lambda client, grant_type: ACCESS_TTL,
            refresh_token_generator=lambda **_: generate_token(48),  # opaque; without it, no refresh token at all
        )
        self.keys = keys

    def get_jwks(self) -> KeySet:
        return self.keys

    def get_audiences(self, client, user, scope):
        return AUDIENCE


def _signing_keys() -> KeySet:
    path = STATE / "signing-key.json"
    if not path.exists():  # written by ``init``, before the workers start, so that both sign with one key
        key = ECKey.generate_key("P-256", parameters={"kid": "bench-es256", "use": "sig", "alg": "ES256"})
        path.write_text(json.dumps(KeySet([key]).as_dict(private=True)))
    return KeySet.import_key_set(json.loads(path.read_text()))


KEYS = _signing_keys()
server = AuthorizationServer(
    app,
    query_client=create_query_client_func(db.session, Client),
    save_token=create_save_token_func(db.session, Token),
)
server.register_token_generator("default", AccessTokens(KEYS))
server.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
server.register_grant(RefreshTokenGrant)
server.register_grant(grants.ClientCredentialsGrant)
server.register_endpoint(Introspection)
server.register_endpoint(create_revocation_endpoint(db.session, Token))


@app.get("/authorize")
def authorize():
    return server.create_authorization_response(grant_user=User.query.filter_by(username=USER[0]).first())


@app.post("/token")
def token():
    return server.create_token_response()


@app.post("/introspect")
def introspect():
    return server.create_endpoint_response(Introspection.ENDPOINT_NAME)


@app.post("/revoke")
def revoke():
    return server.create_endpoint_response("revocation")


@app.get("/jwks.json")
def jwks():
    return jsonify(KEYS.as_dict(private=False))


@app.get("/.well-known/oauth-authorization-server")
def metadata():
    return jsonify(
        issuer=ISSUER,
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token",
        introspection_endpoint=f"{ISSUER}/introspect",
        revocation_endpoint=f"{ISSUER}/revoke",
        jwks_uri=f"{ISSUER}/jwks.json",
        response_types_supported=["code"],
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        code_challenge_methods_supported=["S256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "none"],
        scopes_supported=SCOPES.split(),
    )


def init() -> None:
    """The schema, the user and the two bench clients (the signing key was written on import)."""
    with app.app_context():
        db.create_all()
        if User.query.filter_by(username=USER[0]).first() is None:
            db.session.add(User(username=USER[0]))
        for client_id, secret, auth_method, grant_types in CLIENTS:
            if Client.query.filter_by(client_id=client_id).first() is not None:
                continue
            client = Client(client_id=client_id, client_secret=secret, client_id_issued_at=int(time.time()))
            client.set_client_metadata(
                {
                    "client_name": client_id,
                    "redirect_uris": [CALLBACK],
                    "grant_types": grant_types,
                    "response_types": ["code"],
                    "scope": SCOPES,
                    "token_endpoint_auth_method": auth_method,
                }
            )
            db.session.add(client)
        db.session.commit()


if __name__ == "__main__":
    if sys.argv[1:] != ["init"]:
        raise SystemExit("usage: server.py init   (serve it with gunicorn: see the module docstring)")
    init()
