// PixieAuth: the browser side of the OAuth 2.1 authorization-code flow with PKCE, for single-page apps.
//
// What it guarantees:
// - verifier: 64 characters of the unreserved alphabet from crypto.getRandomValues (RFC 7636 §4.1);
//   challenge: BASE64URL(SHA-256(verifier)) via crypto.subtle, method S256 only (RFC 7636 §4.2, RFC 9700 §2.1.1);
// - state: 256 random bits; the flow record (verifier, state, issuer) lives in sessionStorage for at most 10 minutes
//   and is removed the moment the callback reads it (RFC 6749 §10.12, RFC 9700 §4.7);
// - the callback checks state first, then `iss` against the discovered issuer (RFC 9207 §2.4), and only then looks at
//   `error` or exchanges the code, so a forged or mixed-up response is refused before anything else; handling the
//   same callback twice (React strict mode runs effects twice) exchanges the code once;
// - tokens live only in this object's memory — never in localStorage or sessionStorage (RFC 9700 §4.13, browser-
//   based apps BCP): a reload forgets them, and a silent `prompt=none` sign-in gets new ones from the SSO session;
//   the only thing kept across reloads is a flag saying this app was signed in at this issuer, so that `resume()`
//   knows whether a silent sign-in is worth a round trip;
// - the access token is refreshed shortly before it expires; the rotated refresh token replaces the old one;
// - an ID token in a token response (OpenID Connect) is checked — `iss`, `aud`, `exp`, the `nonce` sent, the same
//   `sub` on refresh — and its claims become `user`; it is not used as a credential;
// - signOut revokes the refresh token (RFC 7009) and forgets every token;
// - with `dpop: true`, tokens are bound to a non-extractable key kept in IndexedDB (RFC 9449, see ./dpop.js): the code
//   names it (`dpop_jkt`), token requests and API calls carry proofs, and a server's nonce is answered once;
// - with `par: true`, or when the server requires it, the authorization request is pushed first (RFC 9126) and only
//   `client_id` and the `request_uri` travel through the address bar.

import { Nonces, createProof, dropKey, loadKey } from "./dpop.js";
import { OAuthError, ProtocolError } from "./errors.js";
import { createChallenge, generateState, generateVerifier } from "./pkce.js";

/**
 * @typedef {object} PixieConfig
 * @property {string} issuer the authorization server's issuer identifier (RFC 8414), e.g. `https://auth.example`
 * @property {string} clientId the public client's id
 * @property {string} redirectUri the registered redirect URI, matched exactly by the server
 * @property {string} [scope] space-separated scopes to ask for
 * @property {boolean} [dpop] bind the tokens to a key of this browser (DPoP, RFC 9449)
 * @property {boolean} [par] push authorization requests first (RFC 9126; done anyway when the server requires it)
 */

/**
 * The parts of an RFC 8414 authorization-server metadata document this module reads.
 * @typedef {object} ServerMetadata
 * @property {string} issuer
 * @property {string} authorization_endpoint
 * @property {string} token_endpoint
 * @property {string} [revocation_endpoint]
 * @property {string[]} [code_challenge_methods_supported]
 * @property {boolean} [authorization_response_iss_parameter_supported]
 * @property {string} [pushed_authorization_request_endpoint]
 * @property {string} [end_session_endpoint]
 * @property {string} [userinfo_endpoint]
 * @property {boolean} [require_pushed_authorization_requests]
 */

/** @typedef {"signed-in" | "refreshed" | "signed-out"} AuthChange */
/** @typedef {{ returnTo: string | null, silent: boolean }} CallbackResult */
/** @typedef {{ prompt?: string, returnTo?: string }} SignInOptions */
/**
 * @typedef {object} SignOutOptions
 * @property {boolean} [endSession] also end the browser's sign-in at the issuer (RP-Initiated Logout): the browser
 *   leaves for the issuer's `end_session_endpoint` and comes back to `postLogoutRedirectUri`
 * @property {string} [postLogoutRedirectUri] where to come back; must be registered for the client
 * @property {string} [state] handed back on the return
 */
/** @typedef {Readonly<Record<string, unknown>>} UserClaims */
/** @typedef {Pick<Storage, "getItem" | "setItem" | "removeItem" | "key" | "length">} FlowStorage */

/**
 * @typedef {object} Flow
 * @property {string} verifier
 * @property {string} issuer
 * @property {string} clientId
 * @property {string} redirectUri
 * @property {string} scope
 * @property {string | null} returnTo
 * @property {boolean} silent
 * @property {string | null} nonce
 * @property {number} createdAt
 */

/**
 * @typedef {object} Tokens
 * @property {string} accessToken
 * @property {"Bearer" | "DPoP"} tokenType
 * @property {string | null} refreshToken
 * @property {number} expiresAt
 * @property {number} refreshAt
 * @property {Set<string>} scopes
 * @property {UserClaims | null} user
 * @property {string | null} idToken the raw ID token, kept in memory for RP-Initiated Logout's `id_token_hint`
 */

export const FLOW_PREFIX = "pixie-pkce:flow:";
const HINT_PREFIX = "pixie-pkce:signed-in:";
const FLOW_TIMEOUT_MS = 10 * 60 * 1000;
const STATE_RE = /^[A-Za-z0-9_-]{22,128}$/;
const REFRESH_MARGIN_S = 60;
const CLOCK_SKEW_S = 60;

/**
 * The parameters of a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3): `{error, error_description, scope}`.
 * Cross-origin, the API must expose the header (Pixie's resource servers do).
 * @param {Response} response
 * @returns {Record<string, string>}
 */
export function bearerChallenge(response) {
  const header = response.headers.get("WWW-Authenticate") || "";
  /** @type {Record<string, string>} */
  const params = {};
  for (const match of header.matchAll(/([a-z_]+)="([^"]*)"/gi)) params[match[1].toLowerCase()] = match[2];
  return params;
}

/**
 * The flow record a callback URL's `state` names, without consuming it; null when there is none.
 * @param {FlowStorage} storage
 * @param {string} url
 * @returns {Flow | null}
 */
export function peekFlow(storage, url) {
  const state = new URL(url).searchParams.get("state") || "";
  if (!STATE_RE.test(state)) return null;
  try {
    const stored = storage.getItem(FLOW_PREFIX + state);
    return stored === null ? null : /** @type {Flow} */ (JSON.parse(stored));
  } catch {
    return null;
  }
}

/**
 * @param {Response} response
 * @param {string} what
 * @returns {Promise<Record<string, unknown>>}
 */
async function readJson(response, what) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.toLowerCase().startsWith("application/json")) {
    throw new ProtocolError(`${what} answered ${response.status} without JSON`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ProtocolError(`${what} answered malformed JSON`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ProtocolError(`${what} answered no object`);
  return body;
}

/**
 * RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
 * @param {string} issuer
 */
function metadataUrl(issuer) {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/**
 * The claims of a compact JWS, decoded without verifying its signature (the caller checks what it relies on).
 * @param {string} jwt
 * @returns {Record<string, unknown>}
 */
export function decodeClaims(jwt) {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new ProtocolError("the ID token is not a compact JWS");
  try {
    const padded = parts[1].replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(parts[1].length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(padded), (ch) => ch.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw new Error("not an object");
    return claims;
  } catch {
    throw new ProtocolError("the ID token's claims are unreadable");
  }
}

/** @returns {Storage | null} */
function localStore() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled: no hint, so no silent sign-in on load
  }
}

export class PixieAuth {
  /** @type {Required<PixieConfig>} */
  #config;
  /** @type {ServerMetadata} */
  #metadata;
  /** @type {FlowStorage} */
  #storage;
  /** @type {Tokens | null} */
  #tokens = null;
  /** @type {Promise<import("./dpop.js").DPoPKey> | null} */
  #key = null;
  #nonces = new Nonces();
  /** @type {Promise<boolean> | null} */
  #refreshing = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer = undefined;
  /** @type {Set<(change: AuthChange) => void>} */
  #listeners = new Set();
  /** @type {Map<string, Promise<CallbackResult>>} the callbacks handled, by URL */
  #callbacks = new Map();
  /** @type {Promise<void> | null} */
  #navigation = null;

  /**
   * Prefer {@link PixieAuth.discover}. `metadata` is the issuer's RFC 8414 document.
   * @param {PixieConfig} config
   * @param {ServerMetadata} metadata
   * @param {FlowStorage} [storage] where flow records live between the redirect and the callback (sessionStorage)
   */
  constructor(config, metadata, storage = globalThis.sessionStorage) {
    for (const name of /** @type {const} */ (["issuer", "clientId", "redirectUri"])) {
      if (!config[name]) throw new TypeError(`${name} is required`);
    }
    if (metadata.issuer !== config.issuer) {
      // RFC 8414 §3.3: the document must name exactly the issuer it was fetched for.
      throw new ProtocolError(`metadata issuer ${metadata.issuer} is not ${config.issuer}`);
    }
    const methods = metadata.code_challenge_methods_supported;
    if (Array.isArray(methods) && !methods.includes("S256")) throw new ProtocolError("the issuer does not offer S256");
    this.#config = { scope: "", dpop: false, par: false, ...config };
    this.#metadata = metadata;
    this.#storage = storage;
  }

  /**
   * Fetch the issuer's metadata (RFC 8414) and build a client.
   * @param {PixieConfig} config
   * @param {FlowStorage} [storage]
   * @returns {Promise<PixieAuth>}
   */
  static async discover(config, storage) {
    let response;
    try {
      response = await fetch(metadataUrl(config.issuer), { headers: { Accept: "application/json" } });
    } catch {
      throw new ProtocolError(`the issuer ${config.issuer} could not be reached`);
    }
    if (!response.ok) throw new ProtocolError(`discovery failed with HTTP ${response.status}`);
    const metadata = /** @type {ServerMetadata} */ (/** @type {unknown} */ (await readJson(response, "discovery")));
    return new PixieAuth(config, metadata, storage);
  }

  /** The issuer, as its metadata names it. */
  get issuer() {
    return this.#metadata.issuer;
  }

  /** The client id this object signs in as. */
  get clientId() {
    return this.#config.clientId;
  }

  /** True while an access token is held in memory. */
  get signedIn() {
    return this.#tokens !== null;
  }

  /** The scopes the server actually granted (it may grant fewer than asked: RFC 6749 §3.3). */
  get scopes() {
    return new Set(this.#tokens ? this.#tokens.scopes : []);
  }

  /**
   * Whether the current token carries `scope`.
   * @param {string} scope
   */
  hasScope(scope) {
    return this.#tokens !== null && this.#tokens.scopes.has(scope);
  }

  /** The signed-in user's ID-token claims (OpenID Connect: `sub`, `name`, `email`…), or null without an ID token. */
  get user() {
    return this.#tokens ? this.#tokens.user : null;
  }

  /** Milliseconds since the epoch when the current access token expires, or null. */
  get expiresAt() {
    return this.#tokens ? this.#tokens.expiresAt : null;
  }

  /** Whether this app completed a sign-in at this issuer in this browser and has not signed out since (a flag, not
   *  a token): then a silent `prompt=none` sign-in is likely to succeed. */
  get wasSignedIn() {
    return localStore()?.getItem(this.#hintKey) === "1";
  }

  /**
   * Called with "signed-in", "refreshed" or "signed-out" (the latter also when a refresh fails for good).
   * @param {(change: AuthChange) => void} listener
   * @returns {() => void} unsubscribes
   */
  onChange(listener) {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** @param {AuthChange} event */
  #emit(event) {
    for (const listener of [...this.#listeners]) listener(event);
  }

  get #hintKey() {
    return `${HINT_PREFIX}${this.#metadata.issuer} ${this.#config.clientId}`;
  }

  /** @param {boolean} on */
  #hint(on) {
    try {
      if (on) localStore()?.setItem(this.#hintKey, "1");
      else localStore()?.removeItem(this.#hintKey);
    } catch {
      // storage full or disabled: only the silent sign-in on load is lost
    }
  }

  /**
   * Start a sign-in: remember the flow, then send the browser to the authorization endpoint. `prompt: "none"` asks
   * for a silent answer from an existing SSO session; `returnTo` (default: the current page) is handed back by
   * {@link PixieAuth#handleCallback}. A second call while the browser is already leaving returns the first one's
   * promise (no second flow).
   * @param {SignInOptions} [options]
   * @returns {Promise<void>}
   */
  signIn({ prompt, returnTo } = {}) {
    if (this.#navigation) return this.#navigation;
    this.#navigation = this.#startSignIn(prompt, returnTo).catch((error) => {
      this.#navigation = null;
      throw error;
    });
    return this.#navigation;
  }

  /**
   * @param {string | undefined} prompt
   * @param {string | undefined} returnTo
   */
  async #startSignIn(prompt, returnTo) {
    this.#dropExpiredFlows();
    const verifier = generateVerifier();
    const state = generateState();
    const openid = this.#config.scope.split(" ").includes("openid");
    const here = globalThis.location ? location.pathname + location.search + location.hash : null;
    /** @type {Flow} */
    const flow = {
      verifier,
      issuer: this.#metadata.issuer,
      clientId: this.#config.clientId,
      redirectUri: this.#config.redirectUri,
      scope: this.#config.scope,
      returnTo: returnTo ?? here,
      silent: prompt === "none",
      nonce: openid ? generateState() : null, // OpenID Connect Core §3.1.2.1: binds the ID token to this flow
      createdAt: Date.now(),
    };
    this.#storage.setItem(FLOW_PREFIX + state, JSON.stringify(flow));
    const url = new URL(this.#metadata.authorization_endpoint);
    /** @type {Record<string, string>} */
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
    if (flow.nonce) params.nonce = flow.nonce;
    const key = await this.#dpopKey();
    if (key) params.dpop_jkt = key.thumbprint; // RFC 9449 §10: the code works only with this key
    if (this.#config.par || this.#metadata.require_pushed_authorization_requests) {
      const requestUri = await this.#push(params);
      url.searchParams.set("client_id", this.#config.clientId);
      url.searchParams.set("request_uri", requestUri);
    } else {
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    }
    // Back from the authorization server into this very page (the back/forward cache): signing in works again.
    window.addEventListener("pageshow", () => (this.#navigation = null), { once: true });
    window.location.assign(url.toString());
  }

  /**
   * On load: when this app was signed in here before ({@link PixieAuth#wasSignedIn}), start a silent sign-in and
   * resolve true (the browser is leaving); otherwise resolve false.
   * @param {{ returnTo?: string }} [options]
   */
  async resume({ returnTo } = {}) {
    if (this.signedIn || !this.wasSignedIn) return false;
    await this.signIn({ prompt: "none", returnTo });
    return true;
  }

  /**
   * Whether `url` is an authorization response for this client (has `state` and a `code` or an `error`).
   * @param {string} [url]
   */
  isCallback(url = window.location.href) {
    const parsed = new URL(url);
    const expected = new URL(this.#config.redirectUri);
    if (parsed.origin !== expected.origin || parsed.pathname !== expected.pathname) return false;
    return parsed.searchParams.has("state") && (parsed.searchParams.has("code") || parsed.searchParams.has("error"));
  }

  /**
   * Finish a sign-in on the redirect URI. Resolves to `{returnTo, silent}`; rejects with {@link OAuthError} when the
   * server answered with an error and {@link ProtocolError} when the response cannot be trusted. The same URL
   * handled twice shares one code exchange.
   *
   * Spec: RFC 6749 §4.1.2 and §10.12, RFC 9207 §2.4, RFC 7636 §4.5, OpenID Connect Core §3.1.3.7.
   * @param {string} [url]
   * @returns {Promise<CallbackResult>}
   */
  handleCallback(url = window.location.href) {
    const running = this.#callbacks.get(url);
    if (running) return running;
    const result = this.#completeCallback(url, new URL(url).searchParams.get("state") || "");
    this.#callbacks.set(url, result);
    return result;
  }

  /**
   * @param {string} url
   * @param {string} state
   * @returns {Promise<CallbackResult>}
   */
  async #completeCallback(url, state) {
    const params = new URL(url).searchParams;
    if (!STATE_RE.test(state)) throw new ProtocolError("the response has no valid state");
    const key = FLOW_PREFIX + state;
    const stored = this.#storage.getItem(key);
    if (stored === null) throw new ProtocolError("no sign-in was started here with this state (or it was used)");
    /** @type {Flow} */
    let flow;
    try {
      flow = JSON.parse(stored);
    } catch {
      this.#storage.removeItem(key);
      throw new ProtocolError("the stored sign-in is unreadable");
    }
    if (flow.issuer !== this.#metadata.issuer || flow.clientId !== this.#config.clientId) {
      // Another PixieAuth's flow (another tenant): leave it for that one.
      throw new ProtocolError("the stored sign-in belongs to another issuer or client");
    }
    this.#storage.removeItem(key); // single use, whatever happens next
    this.#dropExpiredFlows();
    try {
      if (!(Date.now() - flow.createdAt < FLOW_TIMEOUT_MS)) throw new ProtocolError("the sign-in took too long; try again");
      // RFC 9207 §2.4: compare iss with the issuer we sent the user to, before looking at code or error.
      const iss = params.get("iss");
      if (iss === null && this.#metadata.authorization_response_iss_parameter_supported) {
        throw new ProtocolError("the response has no iss parameter");
      }
      if (iss !== null && iss !== this.#metadata.issuer) throw new ProtocolError(`the response came from ${iss}`);
      const error = params.get("error");
      if (error !== null) throw new OAuthError(error, params.get("error_description"), null);
      const code = params.get("code");
      if (!code) throw new ProtocolError("the response has neither code nor error");
      const body = await this.#tokenRequest({
        grant_type: "authorization_code",
        code,
        redirect_uri: flow.redirectUri,
        client_id: flow.clientId,
        code_verifier: flow.verifier,
      });
      this.#accept(body, flow.scope, null, flow.nonce);
    } catch (error) {
      if (flow.silent) this.#hint(false); // the SSO session is gone: no silent attempt on the next load
      throw error;
    }
    this.#hint(true);
    this.#emit("signed-in");
    return { returnTo: flow.returnTo, silent: flow.silent };
  }

  /**
   * A valid access token, refreshed first when it is about to expire; null when signed out.
   * @returns {Promise<string | null>}
   */
  async accessToken() {
    if (this.#tokens === null) return null;
    if (Date.now() >= this.#tokens.refreshAt && this.#tokens.refreshToken) await this.refresh();
    return this.#tokens ? this.#tokens.accessToken : null;
  }

  /**
   * Refresh now (single-flight: concurrent callers share one request). Spec: RFC 6749 §6, RFC 9700 §4.14.
   * @returns {Promise<boolean>}
   */
  refresh() {
    if (this.#refreshing) return this.#refreshing;
    const tokens = this.#tokens;
    if (!tokens || !tokens.refreshToken) return Promise.resolve(false);
    const refreshToken = tokens.refreshToken;
    this.#refreshing = (async () => {
      try {
        const body = await this.#tokenRequest({
          grant_type: "refresh_token",
          refresh_token: refreshToken,
          client_id: this.#config.clientId,
        });
        if (this.#tokens !== tokens) return false; // signed out meanwhile
        this.#accept(body, [...tokens.scopes].join(" "), tokens, null);
        this.#emit("refreshed");
        return true;
      } catch (error) {
        if (error instanceof OAuthError && error.error === "invalid_grant") {
          this.#hint(false);
          this.#forget();
        }
        throw error;
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  /**
   * `fetch` with the access token: a Bearer token, or a DPoP-bound one under the `DPoP` scheme with a proof for this
   * request (answering the API's `use_dpop_nonce` once). On a 401 `invalid_token` it refreshes once and retries.
   * @param {RequestInfo | URL} input
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async fetch(input, init = {}) {
    const url = input instanceof Request ? input.url : String(input);
    const method = init.method || (input instanceof Request ? input.method : "GET");
    const send = async () => {
      const token = await this.accessToken();
      if (!token) throw new ProtocolError("not signed in");
      const headers = new Headers(init.headers || {});
      const key = this.#tokens?.tokenType === "DPoP" ? await this.#dpopKey() : null;
      if (key) {
        headers.set("Authorization", `DPoP ${token}`);
        const proof = await createProof(key, method, url, { accessToken: token, nonce: this.#nonces.get(url) });
        headers.set("DPoP", proof);
      } else {
        headers.set("Authorization", `Bearer ${token}`);
      }
      const response = await fetch(input, { ...init, headers });
      return { response, dpop: key !== null };
    };
    let { response, dpop } = await send();
    if (dpop && this.#nonces.note(url, response) && bearerChallenge(response).error === "use_dpop_nonce") {
      ({ response } = await send()); // RFC 9449 §9: once more, with the API's nonce
    }
    const error = bearerChallenge(response).error;
    if (response.status === 401 && error === "invalid_token" && this.#tokens?.refreshToken) {
      await this.refresh();
      ({ response } = await send());
    }
    return response;
  }

  /**
   * The signed-in user's claims from the issuer's userinfo endpoint (OpenID Connect: `name`, `email`… as the granted
   * scopes allow), after checking that `sub` is the ID token's. Rejects when signed out or without the endpoint.
   * Spec: OpenID Connect Core §5.3, §5.3.2.
   * @returns {Promise<UserClaims>}
   */
  async userinfo() {
    const endpoint = this.#metadata.userinfo_endpoint;
    if (!endpoint) throw new ProtocolError("the issuer has no userinfo_endpoint");
    const response = await this.fetch(endpoint, { headers: { Accept: "application/json" } });
    const body = await readJson(response, "userinfo");
    if (!response.ok) throw new OAuthError(bearerChallenge(response).error || "invalid_request", null, response.status);
    const user = this.user;
    if (typeof body.sub !== "string" || (user !== null && body.sub !== user.sub)) {
      throw new ProtocolError("userinfo names another user than the ID token");
    }
    return Object.freeze({ ...body });
  }

  /**
   * Forget every token and revoke the refresh token (RFC 7009 §2.1; Pixie then also deny-lists the access tokens
   * issued with it), else the access token. Resolves to whether the server confirmed the revocation.
   * With `endSession`, the browser's sign-in at the issuer ends too ({@link PixieAuth#endSession}).
   * @param {SignOutOptions} [options]
   * @returns {Promise<boolean>}
   */
  async signOut(options = {}) {
    const tokens = this.#tokens;
    if (options.endSession) {
      const revoked = await this.signOut();
      await this.endSession({ ...options, idToken: tokens?.idToken ?? null });
      return revoked;
    }
    this.#hint(false);
    this.#forget();
    if (this.#key) {
      this.#key = null; // the next sign-in binds its tokens to a new key
      await dropKey(`${this.#metadata.issuer} ${this.#config.clientId}`).catch(() => {});
    }
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

  /**
   * End the browser's sign-in at the issuer, so the next sign-in asks for a password again. An issuer on this same
   * origin, with no `postLogoutRedirectUri`, gets `POST {issuer}/logout` (no navigation). Otherwise the browser goes
   * to the `end_session_endpoint` (OpenID Connect RP-Initiated Logout) — with the ID token as `id_token_hint` when
   * there is one, else the server asks the user to confirm — and comes back to `postLogoutRedirectUri` with `state`:
   * that works for an issuer on another origin. Resolves false when neither is possible.
   *
   * Spec: OpenID Connect RP-Initiated Logout 1.0 §2, §3.
   * @param {SignOutOptions & { idToken?: string | null }} [options]
   * @returns {Promise<boolean>}
   */
  async endSession({ postLogoutRedirectUri, state, idToken } = {}) {
    const sameOrigin = new URL(this.#metadata.issuer).origin === window.location.origin;
    if (sameOrigin && !postLogoutRedirectUri) {
      const response = await fetch(`${this.#metadata.issuer}/logout`, { method: "POST", credentials: "same-origin" });
      return response.ok;
    }
    const endpoint = this.#metadata.end_session_endpoint;
    if (!endpoint) return false;
    const url = new URL(endpoint);
    const hint = idToken === undefined ? (this.#tokens?.idToken ?? null) : idToken;
    if (hint) url.searchParams.set("id_token_hint", hint);
    url.searchParams.set("client_id", this.#config.clientId);
    if (postLogoutRedirectUri) url.searchParams.set("post_logout_redirect_uri", postLogoutRedirectUri);
    if (state) url.searchParams.set("state", state);
    this.#hint(false);
    window.location.assign(url.toString());
    return true;
  }

  /**
   * @param {Record<string, string>} form
   * @returns {Promise<Record<string, unknown>>}
   */
  async #tokenRequest(form) {
    const { response, body } = await this.#post(this.#metadata.token_endpoint, form, "the token endpoint");
    if (!response.ok) {
      if (typeof body.error !== "string") throw new ProtocolError(`token endpoint error ${response.status} without error`);
      const description = typeof body.error_description === "string" ? body.error_description : null;
      throw new OAuthError(body.error, description, response.status);
    }
    return body;
  }

  /** The DPoP key, loaded (or made) once; null without `dpop`. */
  #dpopKey() {
    if (!this.#config.dpop) return Promise.resolve(null);
    this.#key ??= loadKey(`${this.#metadata.issuer} ${this.#config.clientId}`);
    return this.#key;
  }

  /**
   * POST a form to the token or PAR endpoint, with a DPoP proof when configured; a `use_dpop_nonce` answer with a
   * new nonce is retried once with it (RFC 9449 §8).
   * @param {string} endpoint
   * @param {Record<string, string>} form
   * @param {string} what
   * @returns {Promise<{ response: Response, body: Record<string, unknown> }>}
   */
  async #post(endpoint, form, what) {
    const key = await this.#dpopKey();
    for (let attempt = 0; ; attempt += 1) {
      /** @type {Record<string, string>} */
      const headers = { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" };
      if (key) headers.DPoP = await createProof(key, "POST", endpoint, { nonce: this.#nonces.get(endpoint) });
      let response;
      try {
        response = await fetch(endpoint, { method: "POST", headers, body: new URLSearchParams(form), credentials: "omit" });
      } catch {
        throw new ProtocolError(`${what} could not be reached`);
      }
      const body = await readJson(response, what);
      const renewed = key !== null && this.#nonces.note(endpoint, response);
      if (attempt === 0 && renewed && response.status === 400 && body.error === "use_dpop_nonce") continue;
      return { response, body };
    }
  }

  /**
   * Push the authorization request (RFC 9126 §2); its `request_uri`.
   * @param {Record<string, string>} params
   * @returns {Promise<string>}
   */
  async #push(params) {
    const endpoint = this.#metadata.pushed_authorization_request_endpoint;
    if (!endpoint) throw new ProtocolError("the issuer has no pushed_authorization_request_endpoint");
    const { response, body } = await this.#post(endpoint, params, "the PAR endpoint");
    if (response.status !== 201) {
      if (typeof body.error !== "string") throw new ProtocolError(`PAR error ${response.status} without error`);
      const description = typeof body.error_description === "string" ? body.error_description : null;
      throw new OAuthError(body.error, description, response.status);
    }
    if (typeof body.request_uri !== "string" || !body.request_uri) throw new ProtocolError("PAR gave no request_uri");
    return body.request_uri;
  }

  /**
   * The claims of the response's ID token, checked; the previous user's when a refresh brings none; null without.
   * Spec: OpenID Connect Core §3.1.3.7 (iss, aud, exp, nonce; the token came straight from the token endpoint over
   * TLS, so its signature need not be checked: item 6), §12.2 (same sub after a refresh).
   * @param {unknown} idToken
   * @param {string | null} nonce
   * @param {UserClaims | null} previous
   * @returns {UserClaims | null}
   */
  #user(idToken, nonce, previous) {
    if (idToken === undefined || idToken === null) return previous;
    if (typeof idToken !== "string") throw new ProtocolError("id_token is not a string");
    const claims = decodeClaims(idToken);
    if (claims.iss !== this.#metadata.issuer) throw new ProtocolError("the ID token names another issuer");
    const aud = claims.aud;
    if (!(aud === this.#config.clientId || (Array.isArray(aud) && aud.includes(this.#config.clientId)))) {
      throw new ProtocolError("the ID token is not for this client");
    }
    if (typeof claims.exp !== "number" || claims.exp + CLOCK_SKEW_S < Date.now() / 1000) {
      throw new ProtocolError("the ID token has expired");
    }
    if (typeof claims.sub !== "string" || !claims.sub) throw new ProtocolError("the ID token has no sub");
    if (nonce !== null && claims.nonce !== nonce) throw new ProtocolError("the ID token's nonce is not this sign-in's");
    if (previous !== null && previous.sub !== claims.sub) throw new ProtocolError("the ID token names another user");
    return Object.freeze({ ...claims });
  }

  /**
   * @param {Record<string, unknown>} body
   * @param {string} requestedScope
   * @param {Tokens | null} previous the tokens a refresh replaces
   * @param {string | null} nonce the nonce the sign-in sent
   */
  #accept(body, requestedScope, previous, nonce) {
    if (typeof body.access_token !== "string" || !body.access_token) throw new ProtocolError("no access_token");
    const type = typeof body.token_type === "string" ? body.token_type.toLowerCase() : "";
    if (type !== "bearer" && !(type === "dpop" && this.#config.dpop)) {
      throw new ProtocolError(`token_type ${String(body.token_type)} is not Bearer${this.#config.dpop ? " nor DPoP" : ""}`);
    }
    const user = this.#user(body.id_token, nonce, previous ? previous.user : null);
    const expiresIn = typeof body.expires_in === "number" ? body.expires_in : NaN;
    const lifetime = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 300;
    // RFC 6749 §5.1: `scope` is present when it differs from the request; absent means "as requested".
    const scope = typeof body.scope === "string" ? body.scope : requestedScope || "";
    // Refresh a minute before expiry, or after 80% of a short lifetime.
    const margin = Math.min(REFRESH_MARGIN_S, lifetime / 5);
    const now = Date.now();
    /** @type {Tokens} */
    const tokens = {
      accessToken: body.access_token,
      tokenType: type === "dpop" ? "DPoP" : "Bearer",
      refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : (previous?.refreshToken ?? null),
      expiresAt: now + lifetime * 1000,
      refreshAt: now + (lifetime - margin) * 1000,
      scopes: new Set(scope.split(" ").filter(Boolean)),
      user,
      idToken: typeof body.id_token === "string" ? body.id_token : (previous?.idToken ?? null),
    };
    this.#tokens = tokens;
    this.#schedule(tokens, tokens.refreshAt - now);
  }

  /**
   * @param {Tokens} tokens
   * @param {number} delay
   */
  #schedule(tokens, delay) {
    clearTimeout(this.#timer);
    if (!tokens.refreshToken) return;
    this.#timer = setTimeout(() => {
      this.refresh().catch(() => {
        // A refused refresh (invalid_grant) has already signed out. A network failure: try again while the
        // access token is still good, then give up.
        if (this.#tokens !== tokens) return;
        if (Date.now() + 15000 < tokens.expiresAt) this.#schedule(tokens, 15000);
        else this.#forget();
      });
    }, Math.max(delay, 0));
  }

  #forget() {
    const had = this.#tokens !== null;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#tokens = null;
    this.#navigation = null;
    if (had) this.#emit("signed-out");
  }

  #dropExpiredFlows() {
    const now = Date.now();
    for (let i = this.#storage.length - 1; i >= 0; i -= 1) {
      const key = this.#storage.key(i);
      if (!key || !key.startsWith(FLOW_PREFIX)) continue;
      let createdAt = 0;
      try {
        createdAt = JSON.parse(this.#storage.getItem(key) || "{}").createdAt;
      } catch {
        // unreadable: drop it
      }
      if (!(now - createdAt < FLOW_TIMEOUT_MS)) this.#storage.removeItem(key);
    }
  }
}
