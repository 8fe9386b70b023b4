// A web application that signs its users in with panva's openid-client (a certified OpenID relying party), for
// tests/interop/test_openid_client.py: discovery, code flow with PKCE, nonce and state, ID token validation,
// userinfo and RP-Initiated Logout against Pixie. Usage: node oidc_rp.mjs ISSUER CLIENT_ID PORT
// It prints "ready" once listening; each page shows its result as JSON in a <pre id="result">.
import http from 'node:http'
import * as client from 'openid-client'

const [issuer, clientId, port] = process.argv.slice(2)
const base = `http://127.0.0.1:${port}`
const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests], // Pixie runs on loopback http in the tests
})

let pending = null
let signedIn = null

function page(res, status, result) {
  const body = `<!doctype html><title>rp</title><pre id="result">${JSON.stringify(result)
    .replace(/&/g, '&amp;').replace(/</g, '&lt;')}</pre><a id="logout" href="/logout">Sign out</a>`
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' })
  res.end(body)
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, base)
  try {
    if (url.pathname === '/login') {
      const verifier = client.randomPKCECodeVerifier()
      pending = { verifier, nonce: client.randomNonce(), state: client.randomState() }
      const target = client.buildAuthorizationUrl(config, {
        redirect_uri: `${base}/cb`,
        scope: 'openid profile email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce: pending.nonce,
        state: pending.state,
        ...(url.searchParams.get('prompt') ? { prompt: url.searchParams.get('prompt') } : {}),
        ...(url.searchParams.get('mode') ? { response_mode: url.searchParams.get('mode') } : {}),
      })
      res.writeHead(302, { location: target.href })
      res.end()
    } else if (url.pathname === '/cb') {
      let current = url
      if (req.method === 'POST') { // response_mode=form_post: the response is the posted form
        const chunks = []
        for await (const chunk of req) chunks.push(chunk)
        current = new Request(url, {
          method: 'POST',
          headers: { 'content-type': req.headers['content-type'] },
          body: Buffer.concat(chunks),
        })
      }
      const tokens = await client.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.verifier,
        expectedNonce: pending.nonce,
        expectedState: pending.state,
        idTokenExpected: true,
      })
      const claims = tokens.claims()
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
      signedIn = tokens
      page(res, 200, { claims, userinfo, method: req.method })
    } else if (url.pathname === '/logout') {
      pending = { state: client.randomState() }
      const target = client.buildEndSessionUrl(config, {
        id_token_hint: signedIn.id_token,
        post_logout_redirect_uri: `${base}/bye`,
        state: pending.state,
      })
      res.writeHead(302, { location: target.href })
      res.end()
    } else if (url.pathname === '/bye') {
      page(res, 200, { signedOut: url.searchParams.get('state') === pending.state })
    } else {
      page(res, 404, { error: 'not found' })
    }
  } catch (error) {
    page(res, 500, { error: String(error && (error.code || error.message)), cause: String(error && error.cause) })
  }
})
server.listen(Number(port), '127.0.0.1', () => console.log('ready'))
