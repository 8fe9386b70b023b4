// A React 19 app that signs in with @pixie-oauth/react (from the packed tarballs) and calls a Pixie-protected API on
// another origin. /config.json (served by the test) names one tenant, or several shown side by side. Strict mode on.
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { PixieProvider, usePixieAuth, type PixieAuthState } from "@pixie-oauth/react";
import { OAuthError } from "@pixie-oauth/browser";

type Tenant = { name: string; issuer: string; api: string };
type Config = {
  clientId: string;
  redirectUri: string;
  scope: string;
  tenants: Tenant[];
  dpop?: boolean; // DPoP-bound tokens (RFC 9449)
  par?: boolean; // pushed authorization requests (RFC 9126)
};

function describe(error: Error | null): string {
  if (error === null) return "";
  return error instanceof OAuthError ? `OAuthError ${error.error}` : `${error.name} ${error.message}`;
}

function Panel({ tenant }: { tenant: Tenant }) {
  const auth: PixieAuthState = usePixieAuth();
  const [result, setResult] = useState("");
  const call = async () => {
    try {
      const response = await auth.fetch(`${tenant.api}/whoami`);
      setResult(`${response.status} ${await response.text()}`);
    } catch (error) {
      setResult(`failed ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  return (
    <section data-tenant={tenant.name}>
      <h2>{tenant.name}</h2>
      <p className="status">{auth.status}</p>
      <p className="scopes">{[...auth.scopes].sort().join(" ")}</p>
      <p className="can-read">{String(auth.hasScope("properties:read"))}</p>
      <p className="user">{auth.user === null ? "no user" : String(auth.user.sub)}</p>
      <p className="error">{describe(auth.error)}</p>
      <p className="result">{result}</p>
      <p className="expires">{auth.auth?.expiresAt ?? ""}</p>
      <button className="signin" onClick={() => void auth.signIn()} disabled={auth.status === "loading"}>
        Sign in
      </button>
      <button className="call" onClick={() => void call()} disabled={auth.status !== "signed-in"}>
        Call API
      </button>
      <button className="signout" onClick={() => void auth.signOut().then(() => setResult(""))}>
        Sign out
      </button>
      <button
        className="signout-everywhere"
        onClick={() =>
          void auth.signOut({ endSession: true, postLogoutRedirectUri: `${window.location.origin}/signed-out` })
        }
      >
        Sign out everywhere
      </button>
    </section>
  );
}

async function main(): Promise<void> {
  const config: Config = await (await fetch("/config.json")).json();
  const single = config.tenants.length === 1;
  const silent = new URLSearchParams(window.location.search).get("silent") !== "0"; // ?silent=0: silent={false}
  const root = createRoot(document.getElementById("root") as HTMLElement);
  root.render(
    <StrictMode>
      {config.tenants.map((tenant) => (
        <PixieProvider
          key={tenant.name}
          tenant={single ? undefined : tenant.name}
          issuer={tenant.issuer}
          clientId={config.clientId}
          redirectUri={config.redirectUri}
          scope={config.scope}
          dpop={config.dpop ?? false}
          par={config.par ?? false}
          silent={silent}
        >
          <Panel tenant={tenant} />
        </PixieProvider>
      ))}
    </StrictMode>,
  );
}

void main();
