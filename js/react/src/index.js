// @pixie-oauth/react: a provider and a hook over @pixie-oauth/browser, nothing more.
//
//   <PixieProvider issuer="https://auth.example" clientId="my-spa" redirectUri={`${location.origin}/callback`}
//                  scope="properties:read">
//     <App />
//   </PixieProvider>
//
//   const { status, signIn, signOut, fetch, user } = usePixieAuth();
//
// The provider completes the callback itself when the page is the redirect URI (and puts back the URL the user
// started from), tries a silent sign-in on load when this app was signed in here before (unless `silent={false}`),
// and shares one PixieAuth with every usePixieAuth() below it. Every provider on a page shares one PixieTenants (or
// the one passed as `tenants`), so that providers for several tenants (`tenant="acme"`) coordinate their callbacks and
// silent sign-ins. Strict mode runs effects twice: discovery, the callback and the silent sign-in are each shared
// promises, so the code is exchanged once and the browser navigates once.

import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useState } from "react";
import { OAuthError, PixieTenants } from "@pixie-oauth/browser";

/** @typedef {import("@pixie-oauth/browser").PixieAuth} PixieAuth */
/** @typedef {"loading" | "signed-out" | "signed-in" | "error"} PixieStatus */

/**
 * What usePixieAuth() returns. Functions are stable while the tenant stays the same.
 * @typedef {object} PixieAuthState
 * @property {PixieStatus} status
 * @property {(options?: { prompt?: string, returnTo?: string }) => Promise<void>} signIn
 * @property {(options?: SignOutOptions) => Promise<boolean>} signOut revokes the refresh token and forgets the
 *   tokens; `{ endSession: true, postLogoutRedirectUri }` also signs out at the issuer (RP-Initiated Logout)
 * @property {(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>} fetch with the bearer token
 * @property {() => Promise<string | null>} accessToken a valid access token (refreshed when near expiry), or null
 * @property {ReadonlySet<string>} scopes the scopes granted
 * @property {(scope: string) => boolean} hasScope
 * @property {Readonly<Record<string, unknown>> | null} user the ID token's claims, or null
 * @property {Error | null} error why status is "error" (an OAuthError or a ProtocolError)
 * @property {string} tenant this provider's tenant name
 * @property {PixieAuth | null} auth the underlying PixieAuth, once discovered
 */

/** @typedef {{ endSession?: boolean, postLogoutRedirectUri?: string, state?: string }} SignOutOptions */

/**
 * @typedef {object} PixieProviderProps
 * @property {string} issuer
 * @property {string} clientId
 * @property {string} redirectUri
 * @property {string} [scope]
 * @property {boolean} [dpop] bind the tokens to a key of this browser (DPoP, RFC 9449)
 * @property {boolean} [par] push authorization requests first (RFC 9126)
 * @property {boolean} [silent] try a silent sign-in on load (default true)
 * @property {string} [tenant] this provider's name among the tenants of the page (default: the issuer)
 * @property {PixieTenants} [tenants] the manager to use (default: one shared by every provider on the page)
 * @property {(returnTo: string) => void} [onRedirectCallback] after a callback, go back to where the user was
 *   (default: history.replaceState, which drops the code from the address bar)
 * @property {import("react").ReactNode} [children]
 */

/** Errors of a silent sign-in that mean "not signed in there", not a failure (OpenID Connect Core §3.1.2.6). */
const SIGNED_OUT = new Set(["login_required", "consent_required", "interaction_required", "account_selection_required"]);

/** @type {PixieTenants | null} */
let pageTenants = null;

/** The PixieTenants every provider without a `tenants` prop shares (created on first use, not on import). */
function sharedTenants() {
  pageTenants ??= new PixieTenants();
  return pageTenants;
}

/** The page loads whose callback URL was already replaced. @type {WeakSet<object>} */
const restored = new WeakSet();

/** @type {import("react").Context<PixieAuthState | null>} */
const PixieContext = createContext(/** @type {PixieAuthState | null} */ (null));

/** @param {string} returnTo */
function replaceUrl(returnTo) {
  window.history.replaceState(window.history.state, "", returnTo);
}

/**
 * @param {PixieProviderProps} props
 * @returns {import("react").ReactElement}
 */
export function PixieProvider({
  issuer,
  clientId,
  redirectUri,
  scope = "",
  dpop = false,
  par = false,
  silent = true,
  tenant,
  tenants,
  onRedirectCallback = replaceUrl,
  children,
}) {
  const manager = tenants ?? sharedTenants();
  const name = tenant ?? issuer;
  const [auth, setAuth] = useState(/** @type {PixieAuth | null} */ (manager.get(name)));
  const [phase, setPhase] = useState(
    /** @type {{ status: "loading" | "ready" | "error", error: Error | null }} */ ({ status: "loading", error: null }),
  );
  const [, setVersion] = useState(0);

  useEffect(() => {
    let live = true;
    const unsubscribe = manager.onChange((changed) => {
      if (changed === name && live) setVersion((version) => version + 1);
    });
    (async () => {
      let found;
      try {
        found = await manager.add(name, { issuer, clientId, redirectUri, scope, dpop, par });
      } catch (error) {
        if (live) setPhase({ status: "error", error: asError(error) });
        return;
      }
      if (!live) return;
      setAuth(found);
      const outcome = await manager.start({ silent }).catch((error) => ({
        navigating: false,
        returnTo: null,
        errors: new Map([[name, asError(error)]]),
        failed: true,
      }));
      if (!live || outcome.navigating) return; // the browser is leaving for a silent sign-in
      const wasCallback = outcome.returnTo !== null || outcome.errors.size > 0;
      const onCallbackPage = new URL(window.location.href).pathname === new URL(redirectUri).pathname;
      if (wasCallback && onCallbackPage && !restored.has(outcome)) {
        restored.add(outcome); // once per page load, however many providers share it
        onRedirectCallback(outcome.returnTo ?? "/");
      }
      const error = outcome.errors.get(name) ?? null;
      if (error === null || (error instanceof OAuthError && SIGNED_OUT.has(error.error))) {
        setPhase({ status: "ready", error: null });
      } else {
        setPhase({ status: "error", error });
      }
    })();
    return () => {
      live = false;
      unsubscribe();
    };
    // onRedirectCallback is read once per load, like the other settings of a sign-in.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [manager, name, issuer, clientId, redirectUri, scope, dpop, par, silent]);

  const signIn = useCallback(
    /** @param {{ prompt?: string, returnTo?: string }} [options] */
    async (options) => {
      const found = auth ?? (await manager.add(name, { issuer, clientId, redirectUri, scope, dpop, par }));
      setPhase({ status: "ready", error: null });
      await found.signIn(options);
    },
    [auth, manager, name, issuer, clientId, redirectUri, scope, dpop, par],
  );
  const signOut = useCallback(
    /** @param {SignOutOptions} [options] */
    async (options) => (auth ? auth.signOut(options) : false),
    [auth],
  );
  const authorizedFetch = useCallback(
    /**
     * @param {RequestInfo | URL} input
     * @param {RequestInit} [init]
     */
    (input, init) => {
      if (!auth) return Promise.reject(new Error("not signed in"));
      return auth.fetch(input, init);
    },
    [auth],
  );
  const accessToken = useCallback(async () => (auth ? auth.accessToken() : null), [auth]);
  const hasScope = useCallback(/** @param {string} s */ (s) => (auth ? auth.hasScope(s) : false), [auth]);

  const signedIn = auth?.signedIn ?? false;
  const expiresAt = auth?.expiresAt ?? null;
  const user = auth?.user ?? null;
  const scopeList = auth ? [...auth.scopes].sort().join(" ") : "";
  /** @type {PixieStatus} */
  const status =
    phase.status === "loading" ? "loading" : phase.status === "error" ? "error" : signedIn ? "signed-in" : "signed-out";

  const value = useMemo(
    () =>
      /** @type {PixieAuthState} */ ({
        status,
        signIn,
        signOut,
        fetch: authorizedFetch,
        accessToken,
        scopes: new Set(scopeList.split(" ").filter(Boolean)),
        hasScope,
        user,
        error: status === "error" ? phase.error : null,
        tenant: name,
        auth,
      }),
    // expiresAt: a refresh makes a new value, so components re-render on refresh too
    [status, signIn, signOut, authorizedFetch, accessToken, scopeList, hasScope, user, phase.error, name, auth, expiresAt],
  );
  return createElement(PixieContext.Provider, { value }, children);
}

/**
 * The sign-in state of the nearest PixieProvider; re-renders on sign-in, refresh and sign-out.
 * @returns {PixieAuthState}
 */
export function usePixieAuth() {
  const value = useContext(PixieContext);
  if (value === null) throw new Error("usePixieAuth() needs a <PixieProvider> above it");
  return value;
}

/**
 * @param {unknown} error
 * @returns {Error}
 */
function asError(error) {
  return error instanceof Error ? error : new Error(String(error));
}

export { OAuthError, PixieTenants, ProtocolError } from "@pixie-oauth/browser";
