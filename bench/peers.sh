#!/usr/bin/env bash
# Pixie against the peers of ../shared/peers (node-oidc-provider, Authlib), in the same interleaved rounds on this
# machine: every server pinned to core 0, the load generator to core 1. Run on purpose, never from `make test`.
#
#   bash bench/peers.sh                          # RUNS=3 DURATION=10, every scenario
#   RUNS=1 DURATION=3 bash bench/peers.sh        # quick smoke run
#   SCENARIOS="cc refresh" bash bench/peers.sh   # any run_all.sh variable passes through
#   PIXIE_DATABASE_URL=postgresql://postgres@127.0.0.1/test bash bench/peers.sh   # Pixie on PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
make --quiet .venv/.installed-run

PEERS_SRC=${PEERS_SRC:-../shared/peers}
WORK=bench/.peers                      # a writable copy: setup.sh installs into the folder it lives in
if [ ! -d "$WORK" ]; then cp -r "$PEERS_SRC" "$WORK" && chmod -R u+w "$WORK"; fi
[ -x "$WORK/.venv/bin/python" ] || bash "$WORK/setup.sh"

STATE=$(mktemp -d)
export PIXIE_DATABASE_URL=${PIXIE_DATABASE_URL:-sqlite:///$STATE/bench.db}
export PIXIE_SECRET_FILE="$STATE/pixie.secret"
PORT=${PIXIE_PORT:-3003}
pixie=.venv/bin/pixie
cb=http://127.0.0.1:9999/cb
$pixie clients create bench-confidential --secret bench-secret --redirect-uri $cb --grant-type authorization_code \
  --grant-type refresh_token --grant-type client_credentials --scope api:read >/dev/null 2>&1 || true
$pixie clients create bench-public --public --redirect-uri $cb --grant-type authorization_code \
  --grant-type refresh_token --scope api:read >/dev/null 2>&1 || true
printf 'bench-password\n' | $pixie users create bench-user --password-stdin >/dev/null 2>&1 || true

taskset -c 0 $pixie serve --port "$PORT" > "$STATE/pixie.log" 2>&1 &
PIXIE_PID=$!
trap 'kill $PIXIE_PID 2>/dev/null || true; wait $PIXIE_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/.well-known/oauth-authorization-server" >/dev/null && break
  sleep 0.1
done
"$WORK/.venv/bin/python" "$WORK/bench.py" --issuer "http://127.0.0.1:$PORT" --get-token >/dev/null

mkdir -p bench/results
EXTRA_ISSUER="http://127.0.0.1:$PORT" EXTRA_LABEL=pixie EXTRA_PID=$PIXIE_PID bash "$WORK/run_all.sh" \
  | tee "bench/results/peers-$(date -u +%Y%m%dT%H%M%SZ).md"
