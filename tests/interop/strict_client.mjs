// A strict third-party client (oauth4webapi) run against Pixie by test_oauth4webapi.py.
//   node strict_client.mjs start  ISSUER CLIENT_ID REDIRECT_URI SCOPE
//   node strict_client.mjs finish ISSUER CLIENT_ID REDIRECT_URI STATE VERIFIER CALLBACK_URL
// Prints one JSON line; on a rejection by the library: {"rejected": "<error code or message>"}.
import * as oauth from "oauth4webapi";

const [command, issuerUrl, clientId, redirectUri, ...rest] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true }; // the test server is plain http on loopback
const issuer = new URL(issuerUrl);
const client = { client_id: clientId };

async function discover() {
  const response = await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function start(scope) {
  const as = await discover();
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: clientId, redirect_uri: redirectUri, response_type: "code", scope, state,
    code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  return { url: url.href, state, verifier };
}

async function finish(state, verifier, callbackUrl) {
  const as = await discover();
  let params;
  try {
    params = oauth.validateAuthResponse(as, client, new URL(callbackUrl), state);
  } catch (error) {
    return { rejected: `${error.code}: ${error.message}` };
  }
  const response = await oauth.authorizationCodeGrantRequest(
    as, client, oauth.None(), params, redirectUri, verifier, insecure,
  );
  try {
    const result = await oauth.processAuthorizationCodeResponse(as, client, response);
    return { ok: true, token_type: result.token_type, expires_in: result.expires_in, scope: result.scope,
             has_refresh_token: typeof result.refresh_token === "string" };
  } catch (error) {
    return { rejected: error.code || error.error || error.message };
  }
}

const output = command === "start" ? await start(rest[0]) : await finish(rest[0], rest[1], rest[2]);
console.log(JSON.stringify(output));
