// PKCE and state values, from the browser's Web Crypto (RFC 7636 §4.1–§4.2, RFC 6749 §10.12).

const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"; // RFC 3986 §2.3

/**
 * Base64url without padding (RFC 4648 §5).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * A code verifier: `length` (43–128) characters drawn uniformly from the unreserved alphabet. RFC 7636 §4.1.
 * @param {number} [length]
 * @returns {string}
 */
export function generateVerifier(length = 64) {
  if (!Number.isInteger(length) || length < 43 || length > 128) throw new RangeError("verifier length must be 43-128");
  /** @type {string[]} */
  const out = [];
  // Rejection sampling: 256 % 66 != 0, so bytes >= 198 are redrawn to keep every character equally likely.
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length))) {
      if (byte < 198 && out.length < length) out.push(UNRESERVED[byte % UNRESERVED.length]);
    }
  }
  return out.join("");
}

/**
 * BASE64URL(SHA-256(ASCII(verifier))). RFC 7636 §4.2 (S256).
 * @param {string} verifier
 * @returns {Promise<string>}
 */
export async function createChallenge(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/**
 * An unguessable, URL-safe `state` (or `nonce`): 256 random bits. RFC 6749 §10.12.
 * @returns {string}
 */
export function generateState() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}
