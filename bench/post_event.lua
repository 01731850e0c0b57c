-- post_event.lua -- wrk script: POST ~600-byte message_created envelopes with ids unique across threads and runs.
--
-- Environment (optional):
--   WRK_RUN_ID        id prefix for this run (default: hex time + random); must match [A-Za-z0-9_:-]
--   WRK_BODY_BYTES    approximate envelope size (default 600)
--   WRK_TOKEN         sends "Authorization: Bearer <token>"
--   WRK_CHECK_STATUS  "1": count every status other than 2xx in the threads (costs wrk some speed)
--   WRK_KEY_HEADER    "1": also send the id as Idempotency-Key (a balancer hashes on it)
-- done() prints one parseable line:
--   WRK_RESULT requests=N duration_s=S rps=R p50_ms=A p99_ms=B non2xx=N status_errors=N connect=N read=N write=N timeout=N

local threads = {}
local thread_count = 0

math.randomseed(os.time())
local run_id = os.getenv("WRK_RUN_ID") or string.format("w%x%04x", os.time(), math.random(0, 65535))

-- Runs in the main Lua state once per thread, before the threads start.
function setup(thread)
   thread_count = thread_count + 1
   thread:set("prefix", run_id .. "-t" .. thread_count .. "-")
   table.insert(threads, thread)
end

local counter = 0
local head, tail, fixed_len, req_head, req_key
local keyed = os.getenv("WRK_KEY_HEADER") == "1"
local non2xx = 0

function init(args)
   local size = tonumber(os.getenv("WRK_BODY_BYTES") or "600")
   head = '{"type":"message_created","id":"'
   local before = '","occurred_at":"2026-11-27T10:00:00Z","payload":{"conversation_id":"c_123",'
      .. '"author":"bench","text":"'
   -- Size the filler for a six-digit counter, the typical count per thread in a 10 s run.
   local fill = size - #(head .. prefix .. "123456" .. before .. '"}}')
   if fill < 1 then fill = 1 end
   tail = before .. string.rep("x", fill) .. '"}}'
   fixed_len = #head + #prefix + #tail
   local token = os.getenv("WRK_TOKEN")
   -- The request line and headers are built once; wrk.format per request costs wrk ~15% of its rate.
   req_head = "POST /events HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. wrk.port
      .. "\r\nContent-Type: application/json\r\n"
   if token and token ~= "" then
      req_head = req_head .. "Authorization: Bearer " .. token .. "\r\n"
   end
   req_key = req_head .. "Idempotency-Key: "
   req_head = req_head .. "Content-Length: "
end

function request()
   counter = counter + 1
   local c = tostring(counter)
   if keyed then
      return req_key .. prefix .. c .. "\r\nContent-Length: " .. (fixed_len + #c) .. "\r\n\r\n"
         .. head .. prefix .. c .. tail
   end
   return req_head .. (fixed_len + #c) .. "\r\n\r\n" .. head .. prefix .. c .. tail
end

if os.getenv("WRK_CHECK_STATUS") == "1" then
   function response(status, headers, body)
      if status < 200 or status > 299 then
         non2xx = non2xx + 1
      end
   end
end

function done(summary, latency, requests)
   local total_non2xx = 0
   for _, t in ipairs(threads) do
      total_non2xx = total_non2xx + (t:get("non2xx") or 0)
   end
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d status_errors=%d "
         .. "connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000.0,
      latency:percentile(99) / 1000.0, total_non2xx, e.status, e.connect, e.read, e.write, e.timeout))
end
