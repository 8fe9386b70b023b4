// node-oidc-provider as a comparison peer for bench/compare.py (started and stopped by it).
//
//   PORT=3001 node server.mjs
//
// What the load generator (bench/loadgen.py) needs, and nothing more: the two bench clients, the
// client_credentials, authorization_code (+ PKCE S256) and rotating refresh_token grants, RFC 7662
// introspection, ES256-signed JWT access tokens, and single sign-on: the provider's own session cookie
// and a remembered grant, so that a browser that signed in once gets its next code without a page.
// Signing in is automatic (the fixed user, no password), like the Authlib peer. State lives in the
// package's default in-memory adapter; nothing survives a restart.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 3001);
const issuer = `http://127.0.0.1:${port}`;
const callback = 'http://127.0.0.1:9999/cb';
const user = 'bench-user';
const api = { audience: 'urn:bench:api', scopes: 'api:read api:write' };
const hour = 3600;
const fortnight = 14 * 24 * hour;

function signingKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', use: 'sig', alg: 'ES256' };
}

const clients = [
  {
    client_id: 'bench-confidential',
    client_secret: 'bench-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: [callback],
  },
  {
    client_id: 'bench-public',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [callback],
  },
];

// Every token is for the one bench API, a JWT (RFC 9068) signed with ES256 as Pixie's are.
const resourceIndicators = {
  enabled: true,
  defaultResource: async () => api.audience,
  useGrantedResource: async () => true,
  getResourceServerInfo: async (_ctx, indicator) => {
    if (indicator !== api.audience) throw new Provider.errors.InvalidTarget();
    return {
      audience: api.audience,
      scope: api.scopes,
      accessTokenFormat: 'jwt',
      accessTokenTTL: hour,
      jwt: { sign: { alg: 'ES256' } },
    };
  },
};

const provider = new Provider(issuer, {
  clients,
  // The one key is an EC key: client metadata would default ID tokens to RS256 and be refused.
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  pkce: { required: () => true },
  // OAuth 2.1 hands a refresh token to any client allowed the grant (no offline_access scope needed);
  // the default rotation policy rotates a public client's refresh token on every use.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    // The confidential client stands for a resource server: it may introspect any client's tokens.
    introspection: { enabled: true, allowedPolicy: async (_ctx, client) => client.clientAuthMethod !== 'none' },
    resourceIndicators,
  },
  ttl: {
    AccessToken: hour,
    AuthorizationCode: 60,
    ClientCredentials: hour,
    Grant: fortnight,
    Interaction: 600,
    RefreshToken: fortnight,
    Session: hour,
  },
});

// The login and consent step, without a page: sign the fixed user in, grant what the client asked for
// (kept in a Grant, so the next authorization of this browser skips this step), and resume the request.
async function signInAndConsent(ctx) {
  const interaction = await provider.interactionDetails(ctx.req, ctx.res);
  const accountId = interaction.session?.accountId ?? user;
  const grant = (interaction.grantId && (await provider.Grant.find(interaction.grantId)))
    || new provider.Grant({ accountId, clientId: interaction.params.client_id });
  const asked = String(interaction.params.scope ?? '').split(' ').filter(Boolean);
  grant.addResourceScope(api.audience, asked.filter((scope) => api.scopes.split(' ').includes(scope)).join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(
    ctx.req,
    ctx.res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && /^\/interaction\/[^/]+$/.test(ctx.path)) return signInAndConsent(ctx);
  return next();
});

provider.listen(port, '127.0.0.1', () => console.log(`node-oidc-provider peer on ${issuer}`));
