-- wrk script: one fixed form POST, over and over, for bench/scaling.py (client_credentials, introspection).
--   BODY='grant_type=client_credentials&scope=api:read' AUTHORIZATION='Basic ...' wrk -t1 -c32 -d10s -s form.lua URL
-- AUTHORIZATION is the whole header value (the caller encodes the credentials). A status other than 2xx or 3xx
-- counts in non200; bodies are not read. done() prints one WRKJSON line, in the shape refresh.lua prints.
wrk.method = 'POST'
wrk.body = os.getenv('BODY')
wrk.headers['Content-Type'] = 'application/x-www-form-urlencoded'
if os.getenv('AUTHORIZATION') then wrk.headers['Authorization'] = os.getenv('AUTHORIZATION') end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"rps":%.1f,"p50_ms":%.2f,"p99_ms":%.2f,"non200":%d,"socket_errors":%d}\n',
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
