// The demo SPA: sign in with @pixie-oauth/browser (served from ./sdk/), list properties and tenants, add a property when allowed.
// Every value from the API is put on the page with textContent (never innerHTML).
import { OAuthError, PixieAuth, bearerChallenge } from "./sdk/index.js";

// Not a token: only "this tab was signed in", so a reload can ask the SSO session again (prompt=none).
const RESUME_KEY = "pixie-demo:resume";
const INTERACTION_NEEDED = new Set(["login_required", "consent_required", "interaction_required"]);
const SCOPES = [
  ["properties:read", "View properties"],
  ["properties:write", "Add and change properties"],
  ["tenants:read", "View tenants"],
];
const money = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR", maximumFractionDigits: 0 });

const $ = (id) => document.getElementById(id);
let auth;
let config;
let signingOut = false;
let clock = null;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function notify(kind, ...parts) {
  const box = $("notice");
  box.className = `notice ${kind}`;
  box.replaceChildren(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(p))));
  box.hidden = false;
}

function clearNotice() {
  $("notice").hidden = true;
}

function show(view) {
  for (const id of ["landing", "busy", "workspace"]) $(id).hidden = id !== view;
  $("session").hidden = view !== "workspace";
  document.body.classList.toggle("narrow", view !== "workspace"); // notices as wide as the card below them
}

function showBusy(title, detail) {
  $("busy-title").textContent = title;
  $("busy-detail").textContent = detail;
  show("busy");
}

function showLanding() {
  clearInterval(clock);
  show("landing");
}

function describeError(error) {
  if (error instanceof OAuthError) {
    if (error.error === "access_denied") return `Access was not granted: ${error.errorDescription || "you declined"}.`;
    return `The sign-in failed (${error.error}${error.errorDescription ? `: ${error.errorDescription}` : ""}).`;
  }
  return `The sign-in could not be completed: ${error.message}.`;
}

async function apiError(response, action) {
  let description = "";
  try {
    description = (await response.json()).error_description || "";
  } catch {
    // not JSON: keep the status line only
  }
  if (response.status === 403) {
    const scope = bearerChallenge(response).scope || "a permission";
    return [
      el("strong", {}, `You can't ${action}. `),
      "This needs the ",
      el("code", {}, scope),
      " permission, and your sign-in doesn't include it. Sign in as a property manager (such as alice) to do this.",
    ];
  }
  if (response.status === 400) return [el("strong", {}, `Could not ${action}: `), description || "the input was refused."];
  return [el("strong", {}, `Could not ${action}. `), `The API answered ${response.status}${description ? `: ${description}` : ""}.`];
}

function renderAccess() {
  const list = $("access");
  list.replaceChildren(
    ...SCOPES.map(([scope, label]) => {
      const granted = auth.hasScope(scope);
      return el(
        "li",
        { className: granted ? "granted" : "missing", "data-scope": scope },
        el("span", { className: "mark", "aria-hidden": "true" }, granted ? "✓" : "✕"),
        el("span", { className: "label" }, label),
        el("code", {}, scope),
      );
    }),
  );
  $("readonly-hint").hidden = auth.hasScope("properties:write");
  const role = auth.hasScope("properties:write") ? "property manager" : "read only";
  $("who").textContent = `Signed in · ${role}`;
  // The name comes from userinfo (OpenID Connect keeps profile claims out of the ID token when an access token can
  // fetch them, Core §5.4).
  auth
    .userinfo()
    .then((claims) => {
      if (typeof claims.name === "string") $("who").textContent = `Signed in as ${claims.name} · ${role}`;
    })
    .catch(() => {});
}

function tickExpiry() {
  const left = Math.max(0, Math.round((auth.expiresAt - Date.now()) / 1000));
  const text = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  $("token-expiry").textContent = `Access token expires in ${text} and renews automatically. It is kept in memory only.`;
}

function propertyRow(p) {
  return el(
    "tr",
    { "data-id": String(p.id) },
    el("td", { className: "strong" }, p.name),
    el("td", {}, `${p.address}, ${p.city}`),
    el("td", { className: "cap" }, p.kind),
    el("td", { className: "num" }, p.bedrooms),
    el("td", { className: "num" }, money.format(p.monthly_rent)),
    el("td", {}, el("span", { className: `badge ${p.status}` }, p.status)),
  );
}

async function loadProperties() {
  const response = await auth.fetch(`${config.api}/properties?limit=100`);
  if (!response.ok) {
    notify("error", ...(await apiError(response, "load the properties")));
    return;
  }
  const data = await response.json();
  $("properties").replaceChildren(...data.properties.map(propertyRow));
  const shown = data.properties.length;
  $("property-count").textContent = shown < data.total ? `${shown} of ${data.total}` : `${data.total} in total`;
}

async function loadTenants() {
  const body = $("tenants");
  if (!auth.hasScope("tenants:read")) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", className: "empty" }, "Your sign-in did not grant tenants:read.")));
    return;
  }
  const response = await auth.fetch(`${config.api}/tenants`);
  if (!response.ok) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", className: "empty" }, ...(await apiError(response, "list the tenants")))));
    return;
  }
  const data = await response.json();
  $("tenant-count").textContent = `${data.total} in total`;
  body.replaceChildren(
    ...data.tenants.map((t) =>
      el(
        "tr",
        {},
        el("td", { className: "strong nowrap" }, t.name),
        el("td", {}, t.email),
        el("td", {}, t.property_name),
        el("td", { className: "nowrap" }, t.lease_end ? `${t.lease_start} – ${t.lease_end}` : `since ${t.lease_start}`),
      ),
    ),
  );
}

async function showWorkspace() {
  renderAccess();
  tickExpiry();
  clearInterval(clock);
  clock = setInterval(tickExpiry, 1000);
  show("workspace");
  await Promise.all([loadProperties(), loadTenants()]);
}

function numberField(input) {
  // An empty or fractional entry goes to the API as typed, so its validation message is the one shown.
  return Number.isInteger(input.valueAsNumber) ? input.valueAsNumber : input.value;
}

async function addProperty(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = $("add-submit");
  const property = {
    name: form.elements.name.value,
    address: form.elements.address.value,
    city: form.elements.city.value,
    kind: form.elements.kind.value,
    bedrooms: numberField(form.elements.bedrooms),
    monthly_rent: numberField(form.elements.monthly_rent),
  };
  button.disabled = true;
  try {
    const response = await auth.fetch(`${config.api}/properties`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(property),
    });
    if (response.status !== 201) {
      notify("error", ...(await apiError(response, "add properties")));
      return;
    }
    const created = await response.json();
    form.reset();
    await loadProperties();
    document.querySelector(`#properties tr[data-id="${created.id}"]`)?.classList.add("fresh");
    notify("success", el("strong", {}, "Added. "), `“${created.name}” is now on the list.`);
  } catch (error) {
    notify("error", describeError(error));
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  signingOut = true;
  sessionStorage.removeItem(RESUME_KEY);
  try {
    await auth.signOut();
    await auth.endSession().catch(() => false);
  } finally {
    signingOut = false;
  }
  showLanding();
  notify("info", "You are signed out. Your tokens are revoked and forgotten.");
}

async function finishSignIn() {
  showBusy("Signing you in…", "Checking the answer from the authorization server.");
  const home = new URL(".", window.location.href).pathname;
  try {
    await auth.handleCallback();
    history.replaceState(null, "", home); // the code is spent: drop it from the address bar and history
    sessionStorage.setItem(RESUME_KEY, "1");
    await showWorkspace();
  } catch (error) {
    history.replaceState(null, "", home);
    sessionStorage.removeItem(RESUME_KEY);
    showLanding();
    if (!(error instanceof OAuthError && INTERACTION_NEEDED.has(error.error))) notify("error", describeError(error));
  }
}

async function main() {
  const response = await fetch(new URL("config.json", window.location.href));
  config = await response.json();
  auth = await PixieAuth.discover({
    issuer: config.issuer,
    clientId: config.client_id,
    redirectUri: config.redirect_uri,
    scope: config.scope,
  });
  auth.onChange((change) => {
    if (change === "refreshed") {
      renderAccess();
      tickExpiry();
    }
    if (change === "signed-out" && !signingOut) {
      sessionStorage.removeItem(RESUME_KEY);
      showLanding();
      notify("info", "Your session has ended. Sign in again to continue.");
    }
  });
  $("signin").addEventListener("click", () => auth.signIn());
  $("signout").addEventListener("click", signOut);
  $("add-form").addEventListener("submit", addProperty);

  if (auth.isCallback()) {
    await finishSignIn();
  } else if (sessionStorage.getItem(RESUME_KEY)) {
    showBusy("Welcome back…", "Resuming your sign-in.");
    await auth.signIn({ prompt: "none" });
  } else {
    if (window.location.search) history.replaceState(null, "", new URL(".", window.location.href).pathname);
    showLanding();
  }
}

main().catch((error) => {
  showLanding();
  notify("error", `The app could not start: ${error.message}`);
});
