// @pixie-oauth/browser: OAuth 2.1 + PKCE for single-page apps, against Pixie or any RFC 8414 authorization server.
//
//   import { PixieAuth } from "@pixie-oauth/browser";
//   const auth = await PixieAuth.discover({ issuer, clientId, redirectUri, scope });
//   if (auth.isCallback()) await auth.handleCallback();   // on the redirect URI
//   else if (!(await auth.resume())) await auth.signIn(); // silent sign-in if signed in before, else interactive
//   const response = await auth.fetch(`${api}/properties`);
//   await auth.signOut();

export { createProof, loadKey, thumbprint } from "./dpop.js";
export { OAuthError, ProtocolError } from "./errors.js";
export { createChallenge, generateState, generateVerifier } from "./pkce.js";
export { PixieAuth, bearerChallenge, decodeClaims } from "./auth.js";
export { PixieTenants } from "./tenants.js";
