-- wrk script: rotating refresh_token grants for bench/scaling.py (one wrk thread: one queue for every connection).
--   TOKENS=file-with-one-refresh-token-per-line CLIENT=bench-public wrk -t1 -c32 -d10s -s bench/wrk/refresh.lua URL
-- Each request takes a token from the queue and each 200 response puts its successor back, so with more tokens than
-- connections no token is ever presented twice (a second use would be reuse: the server revokes the family). A
-- response without a successor loses its token; once the queue is empty a request carries a token the server does
-- not know, which counts as an error. done() prints one WRKJSON line, as form.lua does.
local queue, head, tail, lost = {}, 1, 0, 0
local client = os.getenv('CLIENT') or 'bench-public'
local form = { ['Content-Type'] = 'application/x-www-form-urlencoded' }

for line in io.lines(os.getenv('TOKENS')) do
  if line ~= '' then tail = tail + 1; queue[tail] = line end
end

function request()
  local token = 'exhausted'
  if head <= tail then token = queue[head]; queue[head] = nil; head = head + 1 end
  return wrk.format('POST', nil, form, 'grant_type=refresh_token&client_id=' .. client .. '&refresh_token=' .. token)
end

function response(status, headers, body)
  local successor = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if successor then tail = tail + 1; queue[tail] = successor else lost = lost + 1 end
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"rps":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,"non200":%d,"socket_errors":%d,"lost":%d}\n',
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, lost))
end
