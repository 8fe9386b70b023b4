// oauth4webapi's own DPoP support, run against Pixie by test_oauth4webapi_dpop.py.
//   node dpop_client.mjs start  ISSUER CLIENT_ID REDIRECT_URI SCOPE KEY_FILE [par]
//   node dpop_client.mjs finish ISSUER CLIENT_ID REDIRECT_URI STATE VERIFIER CALLBACK_URL KEY_FILE API_URL
// The key pair is made by the library (extractable, so that the two commands share it through KEY_FILE).
// Prints one JSON line.
import { readFileSync, writeFileSync } from "node:fs";
import * as oauth from "oauth4webapi";

const [command, issuerUrl, clientId, redirectUri, ...rest] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true }; // the test server is plain http on loopback
const issuer = new URL(issuerUrl);
const client = { client_id: clientId };
const algorithm = { name: "ECDSA", namedCurve: "P-256" };

async function discover() {
  const response = await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function saveKeyPair(file) {
  const pair = await oauth.generateKeyPair("ES256", { extractable: true });
  const privateJwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const publicJwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  writeFileSync(file, JSON.stringify({ privateJwk, publicJwk }));
  return pair;
}

async function loadKeyPair(file) {
  const { privateJwk, publicJwk } = JSON.parse(readFileSync(file, "utf8"));
  return {
    privateKey: await crypto.subtle.importKey("jwk", privateJwk, algorithm, false, ["sign"]),
    publicKey: await crypto.subtle.importKey("jwk", publicJwk, algorithm, true, ["verify"]),
  };
}

// Pixie may ask for its nonce (use_dpop_nonce): the handle remembers it, and the request is sent once more.
async function withNonceRetry(send, process) {
  try {
    return await process(await send());
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    return await process(await send());
  }
}

// With "par", the request is pushed (its DPoP proof binds the code) and only client_id + request_uri travel
// through the browser; otherwise the parameters go in the query, dpop_jkt among them.
async function start(scope, keyFile, mode) {
  const as = await discover();
  const pair = await saveKeyPair(keyFile);
  const dpop = oauth.DPoP(client, pair);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const params = new URLSearchParams({
    client_id: clientId, redirect_uri: redirectUri, response_type: "code", scope, state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  });
  const url = new URL(as.authorization_endpoint);
  if (mode === "par") {
    const pushed = await withNonceRetry(
      () => oauth.pushedAuthorizationRequest(as, client, oauth.None(), params, { DPoP: dpop, ...insecure }),
      (response) => oauth.processPushedAuthorizationResponse(as, client, response),
    );
    url.search = new URLSearchParams({ client_id: clientId, request_uri: pushed.request_uri }).toString();
  } else {
    params.set("dpop_jkt", await dpop.calculateThumbprint());
    url.search = params.toString();
  }
  return { url: url.href, state, verifier, dpop_algs: as.dpop_signing_alg_values_supported };
}

async function finish(state, verifier, callbackUrl, keyFile, apiUrl) {
  const as = await discover();
  const dpop = oauth.DPoP(client, await loadKeyPair(keyFile));
  const params = oauth.validateAuthResponse(as, client, new URL(callbackUrl), state);
  const options = { DPoP: dpop, ...insecure };
  const tokens = await withNonceRetry(
    () => oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, options),
    (response) => oauth.processAuthorizationCodeResponse(as, client, response),
  );
  const api = await oauth.protectedResourceRequest(tokens.access_token, "GET", new URL(apiUrl), undefined, undefined, options);
  const refreshed = await withNonceRetry(
    () => oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token, options),
    (response) => oauth.processRefreshTokenResponse(as, client, response),
  );
  // A thief with the refresh token but another key: refused, and the token stays usable for its owner.
  const thief = oauth.DPoP(client, await oauth.generateKeyPair("ES256"));
  let thiefError = null;
  try {
    await withNonceRetry(
      () => oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token, { DPoP: thief, ...insecure }),
      (response) => oauth.processRefreshTokenResponse(as, client, response),
    );
  } catch (error) {
    thiefError = error.error || error.code || error.message;
  }
  const again = await withNonceRetry(
    () => oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshed.refresh_token, options),
    (response) => oauth.processRefreshTokenResponse(as, client, response),
  );
  return {
    token_type: tokens.token_type,
    api_status: api.status,
    api_body: await api.json(),
    refreshed_token_type: refreshed.token_type,
    thief_error: thiefError,
    owner_refreshed_again: typeof again.access_token === "string",
    jkt: await dpop.calculateThumbprint(),
  };
}

const output = command === "start"
  ? await start(rest[0], rest[1], rest[2])
  : await finish(rest[0], rest[1], rest[2], rest[3], rest[4]);
console.log(JSON.stringify(output));
