// The two errors of @pixie-oauth/browser: the server refused (OAuthError), or its reply broke the protocol
// (ProtocolError). Callers test `error.error === "login_required"`; there is no subclass per code, since servers send
// codes this module has never seen.

/** The authorization server refused: carries its `error` code and `error_description` (RFC 6749 §4.1.2.1, §5.2). */
export class OAuthError extends Error {
  /**
   * @param {string} error the registered error code, e.g. `invalid_grant`
   * @param {string | null | undefined} [description] the server's `error_description`
   * @param {number | null} [status] the HTTP status of a token-endpoint refusal; null for an authorization response
   */
  constructor(error, description, status) {
    super(description ? `${error}: ${description}` : error);
    this.name = "OAuthError";
    /** @type {string} */
    this.error = error;
    /** @type {string} */
    this.errorDescription = description || "";
    /** @type {number | null} */
    this.status = status ?? null;
  }
}

/** A reply that broke the protocol (wrong state or issuer, expired flow, not JSON): never retry it as is. */
export class ProtocolError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}
