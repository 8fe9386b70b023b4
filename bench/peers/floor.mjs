// The floor under a Node authorization server (bench/floor.py): Node's own http module answering the load
// generator's client_credentials request with a made-up token, and nothing else. No framework, no storage, no
// signature: what any Node server pays per request before its first line of OAuth.
import { randomBytes } from "node:crypto";
import http from "node:http";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const metadata = JSON.stringify({ issuer, token_endpoint: `${issuer}/token` });

http
  .createServer((request, response) => {
    if (request.method === "GET" && request.url === "/.well-known/oauth-authorization-server") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(metadata);
      return;
    }
    if (request.method !== "POST" || request.url !== "/token") {
      response.writeHead(404).end();
      return;
    }
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      const ok = form.get("grant_type") === "client_credentials" && request.headers.authorization;
      response.writeHead(ok ? 200 : 400, { "content-type": "application/json", "cache-control": "no-store" });
      response.end(
        JSON.stringify(
          ok
            ? {
                access_token: randomBytes(32).toString("base64url"),
                token_type: "Bearer",
                expires_in: 3600,
                scope: form.get("scope") ?? "",
              }
            : { error: "invalid_request" },
        ),
      );
    });
  })
  .listen(port, "127.0.0.1");
