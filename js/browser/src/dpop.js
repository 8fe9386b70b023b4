// DPoP (RFC 9449) in the browser: one P-256 key pair per issuer and client, made by WebCrypto with a private key that
// cannot be exported (not even by this page's own scripts), kept in IndexedDB so that a reload keeps the key; the
// proofs it signs for token requests and API calls; the server nonces it has been given.
//
// A key that cannot be exported can still be used by any script running in the page (an XSS can sign proofs while it
// runs) but it cannot be carried away: a stolen token and key copy are useless elsewhere.
//
// Without IndexedDB (some private modes) the key lives in memory, like the tokens.

const DB_NAME = "pixie-dpop";
const STORE = "keys";
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING = { name: "ECDSA", hash: "SHA-256" };

/**
 * @typedef {object} DPoPKey
 * @property {CryptoKey} privateKey non-extractable
 * @property {JsonWebKey} publicJwk `{kty, crv, x, y}`
 * @property {string} thumbprint RFC 7638 SHA-256 thumbprint, base64url: the `jkt` tokens are bound to
 */

/** @param {ArrayBuffer | Uint8Array} bytes */
function base64url(bytes) {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = "";
  for (const byte of view) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** @param {unknown} value */
function base64urlJson(value) {
  return base64url(new TextEncoder().encode(JSON.stringify(value)));
}

/** @param {string} text */
async function sha256(text) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/**
 * The RFC 7638 thumbprint of an EC public key: SHA-256 over the required members in lexicographic order.
 * @param {JsonWebKey} jwk
 */
export async function thumbprint(jwk) {
  return sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
}

/** @returns {Promise<IDBDatabase | null>} */
function openDatabase() {
  if (typeof indexedDB === "undefined") return Promise.resolve(null);
  return new Promise((resolve) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
    request.onblocked = () => resolve(null);
  });
}

/**
 * @param {IDBDatabase} db
 * @param {"readonly" | "readwrite"} mode
 * @param {(store: IDBObjectStore) => IDBRequest} action
 * @returns {Promise<unknown>}
 */
function transact(db, mode, action) {
  return new Promise((resolve, reject) => {
    const request = action(db.transaction(STORE, mode).objectStore(STORE));
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * The key pair stored under `name` (issuer and client id), made and stored on first use.
 * @param {string} name
 * @returns {Promise<DPoPKey>}
 */
export async function loadKey(name) {
  const db = await openDatabase();
  /** @type {CryptoKeyPair | undefined} */
  let pair;
  try {
    if (db) pair = /** @type {CryptoKeyPair | undefined} */ (await transact(db, "readonly", (s) => s.get(name)));
    if (!pair) {
      pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]));
      if (db) await transact(db, "readwrite", (s) => s.put(pair, name));
    }
  } finally {
    db?.close();
  }
  const full = await crypto.subtle.exportKey("jwk", pair.publicKey); // the public half is always exportable
  const publicJwk = { kty: full.kty, crv: full.crv, x: full.x, y: full.y };
  return { privateKey: pair.privateKey, publicJwk, thumbprint: await thumbprint(publicJwk) };
}

/**
 * Forget the key stored under `name` (after signing out: the next sign-in binds its tokens to a new key).
 * @param {string} name
 */
export async function dropKey(name) {
  const db = await openDatabase();
  if (!db) return;
  try {
    await transact(db, "readwrite", (s) => s.delete(name));
  } finally {
    db.close();
  }
}

/**
 * `htu`: the URL without query and fragment (RFC 9449 §4.2).
 * @param {string} url
 */
function targetUri(url) {
  const parsed = new URL(url, globalThis.location?.href);
  return `${parsed.origin}${parsed.pathname}`;
}

/**
 * A proof for one request: `htm`, `htu`, a random `jti`, `iat` now, `ath` when an access token goes with it, and the
 * server's `nonce` if it gave one. ECDSA in WebCrypto signs in the JWS form (r || s) already.
 * Spec: RFC 9449 §4.2.
 * @param {DPoPKey} key
 * @param {string} method
 * @param {string} url
 * @param {{ accessToken?: string | null, nonce?: string | null }} [extra]
 */
export async function createProof(key, method, url, { accessToken = null, nonce = null } = {}) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: key.publicJwk };
  const jti = base64url(crypto.getRandomValues(new Uint8Array(16)));
  /** @type {Record<string, string | number>} */
  const claims = { jti, htm: method.toUpperCase(), htu: targetUri(url), iat: Math.floor(Date.now() / 1000) };
  if (accessToken) claims.ath = await sha256(accessToken);
  if (nonce) claims.nonce = nonce;
  const input = `${base64urlJson(header)}.${base64urlJson(claims)}`;
  const signature = await crypto.subtle.sign(SIGNING, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${base64url(signature)}`;
}

/** The last nonce each origin gave (RFC 9449 §8–9). */
export class Nonces {
  /** @type {Map<string, string>} */
  #byOrigin = new Map();

  /** @param {string} url */
  get(url) {
    return this.#byOrigin.get(new URL(url, globalThis.location?.href).origin) ?? null;
  }

  /**
   * Remember the response's `DPoP-Nonce`; true when it is new.
   * @param {string} url
   * @param {Response} response
   */
  note(url, response) {
    const nonce = response.headers.get("DPoP-Nonce");
    const origin = new URL(url, globalThis.location?.href).origin;
    if (!nonce || this.#byOrigin.get(origin) === nonce) return false;
    this.#byOrigin.set(origin, nonce);
    return true;
  }
}
