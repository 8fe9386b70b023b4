// PixieTenants: one PixieAuth per issuer in one app (a SaaS front end that signs in to several tenants of Pixie, each
// with its own issuer `{base}/t/{name}`), isolated and switchable at run time.
//
// Isolation: each tenant is its own PixieAuth, so its tokens live in its own object and nowhere else; flow records
// name their issuer and client, and a callback is handed only to the tenant whose flow it is (that tenant then checks
// `state` and `iss` as always, RFC 9207 §2.4), so a response for one tenant can never sign in to another.
//
// Reloads: tokens live in memory only, so after a reload every tenant that was signed in needs a silent sign-in, and
// each one is a page navigation that would forget the others' tokens. `start()` therefore visits them one after the
// other and redeems the codes together at the end: the callback URLs collected on the way (each code bound by PKCE
// to a verifier kept in the same sessionStorage, and valid for a minute at most) wait in sessionStorage for the few
// seconds the round trips take. An interactive sign-in to one tenant does the same for the others that were signed in.

import { ProtocolError } from "./errors.js";
import { PixieAuth, peekFlow } from "./auth.js";

/** @typedef {import("./auth.js").AuthChange} AuthChange */
/** @typedef {import("./auth.js").FlowStorage} FlowStorage */
/**
 * @typedef {{ clientId?: string, redirectUri?: string, scope?: string, dpop?: boolean, par?: boolean,
 *   storage?: FlowStorage }} TenantDefaults
 */
/**
 * @typedef {{ issuer: string, clientId?: string, redirectUri?: string, scope?: string, dpop?: boolean,
 *   par?: boolean }} TenantConfig
 */
/** @typedef {AuthChange | "switched" | "added" | "removed"} TenantsChange */

/**
 * What {@link PixieTenants#start} found: whether the browser is leaving (a silent sign-in is under way), where the
 * user was before signing in, and each tenant's failure, if its sign-in failed.
 * @typedef {object} StartResult
 * @property {boolean} navigating
 * @property {string | null} returnTo
 * @property {Map<string, Error>} errors
 */

/** @typedef {{ stash: string[], visited: string[], returnTo: string | null, createdAt: number }} Chain */

const CHAIN_KEY = "pixie-pkce:chain";
const CHAIN_TIMEOUT_MS = 2 * 60 * 1000;

export class PixieTenants {
  /** @type {TenantDefaults} */
  #defaults;
  /** @type {FlowStorage} */
  #storage;
  /** @type {Map<string, PixieAuth>} */
  #tenants = new Map();
  /** @type {Map<string, Promise<PixieAuth>>} */
  #adding = new Map();
  /** @type {string | null} */
  #current = null;
  /** @type {Set<(tenant: string, change: TenantsChange) => void>} */
  #listeners = new Set();
  /** @type {Promise<StartResult> | null} */
  #started = null;

  /**
   * @param {TenantDefaults} [defaults] what every tenant shares unless {@link PixieTenants#add} says otherwise
   */
  constructor(defaults = {}) {
    this.#defaults = defaults;
    this.#storage = defaults.storage ?? globalThis.sessionStorage;
  }

  /**
   * Discover `config.issuer` and keep a PixieAuth for it under `name`. Adding the same name again returns the same
   * PixieAuth (when the issuer is the same); one issuer and client can belong to one name only.
   * @param {string} name
   * @param {TenantConfig} config
   * @returns {Promise<PixieAuth>}
   */
  add(name, config) {
    const pending = this.#adding.get(name);
    if (pending) return pending;
    const adding = (async () => {
      const clientId = config.clientId ?? this.#defaults.clientId;
      const redirectUri = config.redirectUri ?? this.#defaults.redirectUri;
      if (!clientId || !redirectUri) throw new TypeError("clientId and redirectUri are required");
      for (const [other, auth] of this.#tenants) {
        if (other !== name && auth.issuer === config.issuer && auth.clientId === clientId) {
          throw new TypeError(`${config.issuer} is already tenant ${other}`);
        }
      }
      const auth = await PixieAuth.discover(
        {
          issuer: config.issuer,
          clientId,
          redirectUri,
          scope: config.scope ?? this.#defaults.scope ?? "",
          dpop: config.dpop ?? this.#defaults.dpop ?? false,
          par: config.par ?? this.#defaults.par ?? false,
        },
        this.#storage,
      );
      auth.onChange((change) => this.#emit(name, change));
      this.#tenants.set(name, auth);
      if (this.#current === null) this.#current = name;
      this.#emit(name, "added");
      return auth;
    })();
    this.#adding.set(name, adding);
    adding.catch(() => this.#adding.delete(name));
    return adding;
  }

  /**
   * The tenant's PixieAuth, or null.
   * @param {string} name
   */
  get(name) {
    return this.#tenants.get(name) ?? null;
  }

  /** The tenants' names, in the order they were added. */
  get names() {
    return [...this.#tenants.keys()];
  }

  /** The tenant the app works with now (the first one added until {@link PixieTenants#use}). */
  get current() {
    return this.#current === null ? null : this.get(this.#current);
  }

  get currentName() {
    return this.#current;
  }

  /**
   * Switch the current tenant. The others stay signed in.
   * @param {string} name
   */
  use(name) {
    if (!this.#tenants.has(name)) throw new TypeError(`no tenant ${name}`);
    if (this.#current === name) return;
    this.#current = name;
    this.#emit(name, "switched");
  }

  /**
   * Sign out of the tenant and forget it.
   * @param {string} name
   */
  async remove(name) {
    const auth = this.#tenants.get(name);
    if (!auth) return;
    this.#tenants.delete(name);
    this.#adding.delete(name);
    if (this.#current === name) this.#current = this.#tenants.keys().next().value ?? null;
    await auth.signOut();
    this.#emit(name, "removed");
  }

  /**
   * Called with the tenant's name and what changed: a PixieAuth change, "switched", "added" or "removed".
   * @param {(tenant: string, change: TenantsChange) => void} listener
   * @returns {() => void}
   */
  onChange(listener) {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * @param {string} name
   * @param {TenantsChange} change
   */
  #emit(name, change) {
    for (const listener of [...this.#listeners]) listener(name, change);
  }

  /**
   * Whether `url` is an authorization response for one of the tenants.
   * @param {string} [url]
   */
  isCallback(url = window.location.href) {
    return [...this.#tenants.values()].some((auth) => auth.isCallback(url));
  }

  /**
   * The name of the tenant whose sign-in `url` answers, or null.
   * @param {string} [url]
   */
  tenantOf(url = window.location.href) {
    const flow = peekFlow(this.#storage, url);
    if (flow === null) return null;
    for (const [name, auth] of this.#tenants) {
      if (auth.issuer === flow.issuer && auth.clientId === flow.clientId && auth.isCallback(url)) return name;
    }
    return null;
  }

  /**
   * What an app does once its tenants are added, on every page load (idempotent: later calls share the first one's
   * result). On a redirect URI: hand the response to its tenant — after first collecting silent sign-ins of the
   * other tenants that were signed in, if any. Elsewhere: start those silent sign-ins (`silent: false` skips them).
   * @param {{ url?: string, silent?: boolean }} [options]
   * @returns {Promise<StartResult>}
   */
  start({ url = window.location.href, silent = true } = {}) {
    if (!this.#started) {
      this.#started = (async () => {
        // Tenants being added now (say, by several React providers mounting together) take part.
        await Promise.allSettled([...this.#adding.values()]);
        return this.isCallback(url) ? this.#callback(url, silent) : this.#resume(url, silent);
      })();
    }
    return this.#started;
  }

  /**
   * @param {string} url
   * @param {boolean} silent
   * @returns {Promise<StartResult>}
   */
  async #resume(url, silent) {
    const returnTo = pathOf(url);
    const next = silent ? this.#nextToResume([]) : null;
    if (next === null) return { navigating: false, returnTo: null, errors: new Map() };
    this.#saveChain({ stash: [], visited: [], returnTo, createdAt: Date.now() });
    await /** @type {PixieAuth} */ (this.get(next)).signIn({ prompt: "none", returnTo });
    return { navigating: true, returnTo, errors: new Map() };
  }

  /**
   * @param {string} url
   * @param {boolean} silent
   * @returns {Promise<StartResult>}
   */
  async #callback(url, silent) {
    const name = this.tenantOf(url);
    const chain = this.#readChain() ?? { stash: [], visited: [], returnTo: null, createdAt: Date.now() };
    chain.stash.push(url);
    if (name !== null) chain.visited.push(name);
    const flow = peekFlow(this.#storage, url);
    chain.returnTo ??= flow?.returnTo ?? null;
    const next = silent ? this.#nextToResume(chain.visited) : null;
    if (next !== null) {
      this.#saveChain(chain);
      await /** @type {PixieAuth} */ (this.get(next)).signIn({ prompt: "none", returnTo: chain.returnTo ?? undefined });
      return { navigating: true, returnTo: chain.returnTo, errors: new Map() };
    }
    this.#storage.removeItem(CHAIN_KEY);
    /** @type {Map<string, Error>} */
    const errors = new Map();
    for (const stashed of chain.stash) {
      const owner = this.tenantOf(stashed);
      if (owner === null) {
        errors.set(name ?? "", new ProtocolError("no sign-in was started here with this state (or it was used)"));
        continue;
      }
      try {
        await /** @type {PixieAuth} */ (this.get(owner)).handleCallback(stashed);
      } catch (error) {
        errors.set(owner, error instanceof Error ? error : new Error(String(error)));
      }
    }
    return { navigating: false, returnTo: chain.returnTo, errors };
  }

  /**
   * The first tenant that was signed in here, is not now, and is not in `visited`.
   * @param {string[]} visited
   */
  #nextToResume(visited) {
    for (const [name, auth] of this.#tenants) {
      if (!visited.includes(name) && !auth.signedIn && auth.wasSignedIn) return name;
    }
    return null;
  }

  /** @returns {Chain | null} */
  #readChain() {
    try {
      const chain = JSON.parse(this.#storage.getItem(CHAIN_KEY) || "null");
      if (chain && Date.now() - chain.createdAt < CHAIN_TIMEOUT_MS && Array.isArray(chain.stash)) return chain;
    } catch {
      // unreadable: start over
    }
    this.#storage.removeItem(CHAIN_KEY);
    return null;
  }

  /** @param {Chain} chain */
  #saveChain(chain) {
    this.#storage.setItem(CHAIN_KEY, JSON.stringify(chain));
  }
}

/**
 * The path, query and fragment of `url`.
 * @param {string} url
 */
function pathOf(url) {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search + parsed.hash;
}
