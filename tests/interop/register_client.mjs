// Dynamic client registration (RFC 7591) with a third-party client, oauth4webapi, run by test_registration_interop.py.
//   node register_client.mjs ISSUER METADATA_JSON [INITIAL_ACCESS_TOKEN]
// Prints one JSON line: the client information as the library returns it, or {"rejected": "<error>"}.
import * as oauth from "oauth4webapi";

const [issuerUrl, metadataJson, initialAccessToken] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true }; // the test server is plain http on loopback
const issuer = new URL(issuerUrl);

const discovery = await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure });
const as = await oauth.processDiscoveryResponse(issuer, discovery);
const options = { ...insecure };
if (initialAccessToken) options.initialAccessToken = initialAccessToken;
let output;
try {
  const response = await oauth.dynamicClientRegistrationRequest(as, JSON.parse(metadataJson), options);
  output = await oauth.processDynamicClientRegistrationResponse(response);
} catch (error) {
  // A 401 comes back as the parsed WWW-Authenticate challenges (RFC 6750 §3): report the challenge's error code.
  const challenge = error.code === "OAUTH_WWW_AUTHENTICATE_CHALLENGE" ? error.cause?.[0] : undefined;
  output = challenge
    ? { rejected: challenge.parameters.error, scheme: challenge.scheme }
    : { rejected: error.error || error.code || error.message };
}
console.log(JSON.stringify(output));
