// oauth4webapi (a strict third-party client) asking Pixie for tokens meant for protected resources (RFC 8707),
// and checking them as a resource server would. Run by test_oauth4webapi_resources.py.
//   node resource_client.mjs start   ISSUER CLIENT_ID REDIRECT_URI SCOPE RESOURCE...
//   node resource_client.mjs finish  ISSUER CLIENT_ID REDIRECT_URI STATE VERIFIER CALLBACK_URL RESOURCE...
//   node resource_client.mjs refresh ISSUER CLIENT_ID REFRESH_TOKEN RESOURCE...
//   node resource_client.mjs check   ISSUER ACCESS_TOKEN AUDIENCE
//   node resource_client.mjs challenge - API_URL           (the challenge a resource answers a bad token with)
//   node resource_client.mjs discover  - RESOURCE          (RFC 9728 metadata of RESOURCE)
// Prints one JSON line; a refusal (by the server or by the library) is {"rejected": "<error code>"}.
import * as oauth from "oauth4webapi";

const [command, issuerUrl, ...rest] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true }; // the test server is plain http on loopback
const issuer = issuerUrl === "-" ? undefined : new URL(issuerUrl); // "-": no authorization server involved

async function discover() {
  const response = await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

const resourceParameters = (resources) => resources.map((resource) => ["resource", resource]);

function refusal(error) {
  return { rejected: error.error || error.code || error.message };
}

async function start(clientId, redirectUri, scope, resources) {
  const as = await discover();
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams([
    ["client_id", clientId], ["redirect_uri", redirectUri], ["response_type", "code"], ["scope", scope],
    ["state", state], ["code_challenge", await oauth.calculatePKCECodeChallenge(verifier)],
    ["code_challenge_method", "S256"], ...resourceParameters(resources),
  ]).toString();
  return { url: url.href, state, verifier };
}

async function finish(clientId, redirectUri, state, verifier, callbackUrl, resources) {
  const as = await discover();
  const client = { client_id: clientId };
  try {
    const params = oauth.validateAuthResponse(as, client, new URL(callbackUrl), state);
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), params, redirectUri, verifier,
      { additionalParameters: resourceParameters(resources), ...insecure },
    );
    const result = await oauth.processAuthorizationCodeResponse(as, client, response);
    return { ok: true, access_token: result.access_token, refresh_token: result.refresh_token, scope: result.scope,
             expires_in: result.expires_in };
  } catch (error) {
    return refusal(error);
  }
}

async function refresh(clientId, refreshToken, resources) {
  const as = await discover();
  const client = { client_id: clientId };
  try {
    const response = await oauth.refreshTokenGrantRequest(
      as, client, oauth.None(), refreshToken, { additionalParameters: resourceParameters(resources), ...insecure },
    );
    const result = await oauth.processRefreshTokenResponse(as, client, response);
    return { ok: true, access_token: result.access_token, refresh_token: result.refresh_token, scope: result.scope };
  } catch (error) {
    return refusal(error);
  }
}

async function check(accessToken, audience) {
  // What a resource server does with oauth4webapi: the JWT access token checked against the AS's keys,
  // with its own identifier as the expected audience (RFC 9068 §4).
  const as = await discover();
  const request = new Request(audience.startsWith("http") ? audience : "https://resource.invalid/",
    { headers: { authorization: `Bearer ${accessToken}` } });
  try {
    const claims = await oauth.validateJwtAccessToken(as, request, audience, insecure);
    return { ok: true, aud: claims.aud, scope: claims.scope };
  } catch (error) {
    return refusal(error);
  }
}

async function challenge(url) {
  try {
    await oauth.protectedResourceRequest("not-a-valid-token", "GET", new URL(url), undefined, undefined, insecure);
    return { rejected: "no challenge" };
  } catch (error) {
    if (error instanceof oauth.WWWAuthenticateChallengeError) {
      return { challenges: error.cause.map(({ scheme, parameters }) => ({ scheme, parameters })) };
    }
    return refusal(error);
  }
}

async function discoverResource(resource) {
  // RFC 9728 §3: the path-suffixed well-known URL, and §3.3: "resource" must equal the identifier asked for.
  try {
    const response = await oauth.resourceDiscoveryRequest(new URL(resource), insecure);
    return { ok: true, metadata: await oauth.processResourceDiscoveryResponse(new URL(resource), response) };
  } catch (error) {
    return refusal(error);
  }
}

let output;
if (command === "start") output = await start(rest[0], rest[1], rest[2], rest.slice(3));
else if (command === "finish") output = await finish(rest[0], rest[1], rest[2], rest[3], rest[4], rest.slice(5));
else if (command === "refresh") output = await refresh(rest[0], rest[1], rest.slice(2));
else if (command === "challenge") output = await challenge(rest[0]);
else if (command === "discover") output = await discoverResource(rest[0]);
else output = await check(rest[0], rest[1]);
console.log(JSON.stringify(output));
