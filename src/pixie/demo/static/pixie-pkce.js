// pixie-pkce.js — the browser side of the OAuth 2.1 authorization-code flow with PKCE, for single-page apps.
// No build step, no dependencies: an ES module for current browsers (Web Crypto, fetch, sessionStorage).
//
//   import { PixieAuth } from "./pixie-pkce.js";
//   const auth = await PixieAuth.discover({ issuer, clientId, redirectUri, scope });
//   if (auth.isCallback()) await auth.handleCallback();   // on the redirect URI
//   else await auth.signIn();                             // sends the browser to /authorize
//   const response = await auth.fetch(`${api}/properties`);
//   await auth.signOut();
//
// What it guarantees:
// - verifier: 64 characters of the unreserved alphabet from crypto.getRandomValues (RFC 7636 §4.1);
//   challenge: BASE64URL(SHA-256(verifier)) via crypto.subtle, method S256 only (RFC 7636 §4.2, RFC 9700 §2.1.1);
// - state: 256 random bits, base64url; the flow record (verifier, state, issuer) lives in sessionStorage for at most
//   10 minutes and is removed the moment the callback reads it (RFC 6749 §10.12, RFC 9700 §4.7);
// - the callback checks state first, then `iss` against the discovered issuer (RFC 9207 §2.4), and only then looks at
//   `error` or exchanges the code, so a forged or mixed-up response is refused before anything else;
// - tokens live only in this module's memory — never in localStorage or sessionStorage (RFC 9700 §4.13, browser-
//   based apps BCP): a reload forgets them, and a silent `prompt=none` sign-in gets new ones from the SSO session;
// - the access token is refreshed shortly before it expires; the rotated refresh token replaces the old one;
// - signOut revokes the refresh token (RFC 7009) and forgets every token.

const FLOW_PREFIX = "pixie-pkce:flow:";
const FLOW_TIMEOUT_MS = 10 * 60 * 1000;
const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"; // RFC 3986 §2.3
const STATE_RE = /^[A-Za-z0-9_-]{22,128}$/;
const REFRESH_MARGIN_S = 60;

/** The authorization server refused: carries its `error` code and `error_description` (RFC 6749 §4.1.2.1, §5.2). */
export class OAuthError extends Error {
  constructor(error, description, status) {
    super(description ? `${error}: ${description}` : error);
    this.name = "OAuthError";
    this.error = error;
    this.errorDescription = description || "";
    this.status = status ?? null;
  }
}

/** A reply that broke the protocol (wrong state or issuer, expired flow, not JSON): never retry it as is. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A code verifier: `length` (43–128) characters drawn uniformly from the unreserved alphabet. RFC 7636 §4.1. */
export function generateVerifier(length = 64) {
  if (!Number.isInteger(length) || length < 43 || length > 128) throw new RangeError("verifier length must be 43-128");
  const out = [];
  // Rejection sampling: 256 % 66 != 0, so bytes >= 198 are redrawn to keep every character equally likely.
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length))) {
      if (byte < 198 && out.length < length) out.push(UNRESERVED[byte % UNRESERVED.length]);
    }
  }
  return out.join("");
}

/** BASE64URL(SHA-256(ASCII(verifier))). RFC 7636 §4.2 (S256). */
export async function createChallenge(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** An unguessable, URL-safe `state` (256 bits). RFC 6749 §10.12. */
export function generateState() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The parameters of a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3): {error, error_description, scope}. */
export function bearerChallenge(response) {
  const header = response.headers.get("WWW-Authenticate") || "";
  const params = {};
  for (const match of header.matchAll(/([a-z_]+)="([^"]*)"/gi)) params[match[1].toLowerCase()] = match[2];
  return params;
}

async function readJson(response, what) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.toLowerCase().startsWith("application/json")) {
    throw new ProtocolError(`${what} answered ${response.status} without JSON`);
  }
  try {
    return await response.json();
  } catch {
    throw new ProtocolError(`${what} answered malformed JSON`);
  }
}

function metadataUrl(issuer) {
  // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

export class PixieAuth {
  #config;
  #metadata;
  #storage;
  #tokens = null; // { accessToken, refreshToken, expiresAt (ms), scopes: Set }
  #refreshing = null;
  #timer = null;
  #listeners = new Set();

  /** Prefer {@link PixieAuth.discover}. `metadata` is the issuer's RFC 8414 document. */
  constructor(config, metadata, storage = globalThis.sessionStorage) {
    for (const name of ["issuer", "clientId", "redirectUri"]) {
      if (!config[name]) throw new TypeError(`${name} is required`);
    }
    if (metadata.issuer !== config.issuer) {
      // RFC 8414 §3.3: the document must name exactly the issuer it was fetched for.
      throw new ProtocolError(`metadata issuer ${metadata.issuer} is not ${config.issuer}`);
    }
    const methods = metadata.code_challenge_methods_supported;
    if (Array.isArray(methods) && !methods.includes("S256")) throw new ProtocolError("the issuer does not offer S256");
    this.#config = { scope: "", ...config };
    this.#metadata = metadata;
    this.#storage = storage;
  }

  /** Fetch the issuer's metadata (RFC 8414) and build a client. */
  static async discover(config, storage) {
    const response = await fetch(metadataUrl(config.issuer), { headers: { Accept: "application/json" } });
    if (!response.ok) throw new ProtocolError(`discovery failed with HTTP ${response.status}`);
    return new PixieAuth(config, await readJson(response, "discovery"), storage);
  }

  get issuer() {
    return this.#metadata.issuer;
  }

  /** True while an access token is held in memory. */
  get signedIn() {
    return this.#tokens !== null;
  }

  /** The scopes the server actually granted (it may grant fewer than asked: RFC 6749 §3.3). */
  get scopes() {
    return new Set(this.#tokens ? this.#tokens.scopes : []);
  }

  hasScope(scope) {
    return this.#tokens !== null && this.#tokens.scopes.has(scope);
  }

  /** Milliseconds since the epoch when the current access token expires, or null. */
  get expiresAt() {
    return this.#tokens ? this.#tokens.expiresAt : null;
  }

  /** Called with "signed-in", "refreshed" or "signed-out" (the latter also when a refresh fails for good). */
  onChange(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event) {
    for (const listener of this.#listeners) listener(event);
  }

  /** Start a sign-in: remember the flow, then send the browser to the authorization endpoint.
   *  `prompt: "none"` asks for a silent answer from an existing SSO session. */
  async signIn({ prompt, returnTo } = {}) {
    this.#dropExpiredFlows();
    const verifier = generateVerifier();
    const state = generateState();
    const flow = {
      verifier,
      issuer: this.#metadata.issuer,
      clientId: this.#config.clientId,
      redirectUri: this.#config.redirectUri,
      scope: this.#config.scope,
      returnTo: returnTo || null,
      silent: prompt === "none",
      createdAt: Date.now(),
    };
    this.#storage.setItem(FLOW_PREFIX + state, JSON.stringify(flow));
    const url = new URL(this.#metadata.authorization_endpoint);
    const params = {
      response_type: "code",
      client_id: this.#config.clientId,
      redirect_uri: this.#config.redirectUri,
      code_challenge: await createChallenge(verifier),
      code_challenge_method: "S256",
      state,
    };
    if (this.#config.scope) params.scope = this.#config.scope;
    if (prompt) params.prompt = prompt;
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    window.location.assign(url.toString());
  }

  /** Whether `url` is an authorization response for this client (has `state` and a `code` or an `error`). */
  isCallback(url = window.location.href) {
    const parsed = new URL(url);
    const expected = new URL(this.#config.redirectUri);
    if (parsed.origin !== expected.origin || parsed.pathname !== expected.pathname) return false;
    return parsed.searchParams.has("state") && (parsed.searchParams.has("code") || parsed.searchParams.has("error"));
  }

  /** Finish a sign-in on the redirect URI. Resolves to {returnTo, silent}; throws {@link OAuthError} when the
   *  server answered with an error and {@link ProtocolError} when the response cannot be trusted.
   *  Spec: RFC 6749 §4.1.2 and §10.12, RFC 9207 §2.4, RFC 7636 §4.5. */
  async handleCallback(url = window.location.href) {
    const params = new URL(url).searchParams;
    const state = params.get("state") || "";
    if (!STATE_RE.test(state)) throw new ProtocolError("the response has no valid state");
    const key = FLOW_PREFIX + state;
    const stored = this.#storage.getItem(key);
    this.#storage.removeItem(key); // single use, whatever happens next
    this.#dropExpiredFlows();
    if (stored === null) throw new ProtocolError("no sign-in was started here with this state (or it was used)");
    let flow;
    try {
      flow = JSON.parse(stored);
    } catch {
      throw new ProtocolError("the stored sign-in is unreadable");
    }
    if (!(Date.now() - flow.createdAt < FLOW_TIMEOUT_MS)) throw new ProtocolError("the sign-in took too long; try again");
    if (flow.issuer !== this.#metadata.issuer || flow.clientId !== this.#config.clientId) {
      throw new ProtocolError("the stored sign-in belongs to another issuer or client");
    }
    // RFC 9207 §2.4: compare iss with the issuer we sent the user to, before looking at code or error.
    const iss = params.get("iss");
    if (iss === null && this.#metadata.authorization_response_iss_parameter_supported) {
      throw new ProtocolError("the response has no iss parameter");
    }
    if (iss !== null && iss !== this.#metadata.issuer) throw new ProtocolError(`the response came from ${iss}`);
    if (params.has("error")) {
      throw new OAuthError(params.get("error"), params.get("error_description"), null);
    }
    const code = params.get("code");
    if (!code) throw new ProtocolError("the response has neither code nor error");
    const body = await this.#tokenRequest({
      grant_type: "authorization_code",
      code,
      redirect_uri: flow.redirectUri,
      client_id: flow.clientId,
      code_verifier: flow.verifier,
    });
    this.#accept(body, flow.scope);
    this.#emit("signed-in");
    return { returnTo: flow.returnTo, silent: flow.silent };
  }

  /** A valid access token, refreshed first when it is about to expire; null when signed out. */
  async accessToken() {
    if (this.#tokens === null) return null;
    if (Date.now() >= this.#tokens.refreshAt && this.#tokens.refreshToken) await this.refresh();
    return this.#tokens ? this.#tokens.accessToken : null;
  }

  /** Refresh now (single-flight: concurrent callers share one request). Spec: RFC 6749 §6, RFC 9700 §4.14. */
  refresh() {
    if (this.#refreshing) return this.#refreshing;
    const tokens = this.#tokens;
    if (!tokens || !tokens.refreshToken) return Promise.resolve(false);
    this.#refreshing = (async () => {
      try {
        const body = await this.#tokenRequest({
          grant_type: "refresh_token",
          refresh_token: tokens.refreshToken,
          client_id: this.#config.clientId,
        });
        if (this.#tokens !== tokens) return false; // signed out meanwhile
        this.#accept(body, [...tokens.scopes].join(" "), tokens.refreshToken);
        this.#emit("refreshed");
        return true;
      } catch (error) {
        if (error instanceof OAuthError && error.error === "invalid_grant") this.#forget();
        throw error;
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  /** `fetch` with the bearer token; on a 401 `invalid_token` it refreshes once and retries. */
  async fetch(input, init = {}) {
    const send = async () => {
      const token = await this.accessToken();
      if (!token) throw new ProtocolError("not signed in");
      const headers = new Headers(init.headers || {});
      headers.set("Authorization", `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    };
    const response = await send();
    if (response.status === 401 && bearerChallenge(response).error === "invalid_token" && this.#tokens?.refreshToken) {
      await this.refresh();
      return send();
    }
    return response;
  }

  /** Forget every token and revoke the refresh token (RFC 7009 §2.1; Pixie then also deny-lists the access tokens
   *  issued with it), else the access token. Resolves to whether the server confirmed the revocation.
   *  The authorization server's own sign-in (SSO session) is the app's to end: see `endSession`. */
  async signOut() {
    const tokens = this.#tokens;
    this.#forget();
    const endpoint = this.#metadata.revocation_endpoint;
    if (!tokens || !endpoint) return false;
    const [token, hint] = tokens.refreshToken
      ? [tokens.refreshToken, "refresh_token"]
      : [tokens.accessToken, "access_token"];
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token, token_type_hint: hint, client_id: this.#config.clientId }),
        credentials: "omit",
      });
      return response.ok;
    } catch {
      return false; // best effort: the tokens are already gone from this page
    }
  }

  /** End the browser's sign-in at a Pixie issuer on this same origin (`POST {issuer}/logout`), so the next sign-in
   *  asks for a password again. Cross-origin issuers need a top-level navigation instead. */
  async endSession() {
    if (new URL(this.#metadata.issuer).origin !== window.location.origin) return false;
    const response = await fetch(`${this.#metadata.issuer}/logout`, { method: "POST", credentials: "same-origin" });
    return response.ok;
  }

  async #tokenRequest(form) {
    let response;
    try {
      response = await fetch(this.#metadata.token_endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams(form),
        credentials: "omit",
      });
    } catch {
      throw new ProtocolError("the token endpoint could not be reached");
    }
    const body = await readJson(response, "the token endpoint");
    if (!response.ok) {
      if (typeof body.error !== "string") throw new ProtocolError(`token endpoint error ${response.status} without error`);
      throw new OAuthError(body.error, body.error_description, response.status);
    }
    return body;
  }

  #accept(body, requestedScope, previousRefresh = null) {
    if (typeof body.access_token !== "string" || !body.access_token) throw new ProtocolError("no access_token");
    if (typeof body.token_type !== "string" || body.token_type.toLowerCase() !== "bearer") {
      throw new ProtocolError("token_type is not Bearer");
    }
    const lifetime = Number.isFinite(body.expires_in) && body.expires_in > 0 ? body.expires_in : 300;
    // RFC 6749 §5.1: `scope` is present when it differs from the request; absent means "as requested".
    const scope = typeof body.scope === "string" ? body.scope : requestedScope || "";
    // Refresh a minute before expiry, or after 80% of a short lifetime.
    const margin = Math.min(REFRESH_MARGIN_S, lifetime / 5);
    const now = Date.now();
    this.#tokens = {
      accessToken: body.access_token,
      refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : previousRefresh,
      expiresAt: now + lifetime * 1000,
      refreshAt: now + (lifetime - margin) * 1000,
      scopes: new Set(scope.split(" ").filter(Boolean)),
    };
    this.#schedule(this.#tokens.refreshAt - now);
  }

  #schedule(delay) {
    clearTimeout(this.#timer);
    const tokens = this.#tokens;
    if (!tokens.refreshToken) return;
    this.#timer = setTimeout(() => {
      this.refresh().catch(() => {
        // A refused refresh (invalid_grant) has already signed out. A network failure: try again while the
        // access token is still good, then give up.
        if (this.#tokens !== tokens) return;
        if (Date.now() + 15000 < tokens.expiresAt) this.#schedule(15000);
        else this.#forget();
      });
    }, Math.max(delay, 0));
  }

  #forget() {
    const had = this.#tokens !== null;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#tokens = null;
    if (had) this.#emit("signed-out");
  }

  #dropExpiredFlows() {
    const now = Date.now();
    for (let i = this.#storage.length - 1; i >= 0; i -= 1) {
      const key = this.#storage.key(i);
      if (!key || !key.startsWith(FLOW_PREFIX)) continue;
      let createdAt = 0;
      try {
        createdAt = JSON.parse(this.#storage.getItem(key)).createdAt;
      } catch {
        // unreadable: drop it
      }
      if (!(now - createdAt < FLOW_TIMEOUT_MS)) this.#storage.removeItem(key);
    }
  }
}
