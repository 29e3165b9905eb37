-- wrk script for the survey submit endpoint: each request answers the next
-- personal link (tokens from TOKENS, one per line; each used once, so every
-- acknowledged answer is a distinct response), and the run counts the
-- acknowledgements (303 See Other) and everything else.
local tokens = {}
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file = io.open(os.getenv("TOKENS"), "r")
  local all = {}
  for line in file:lines() do table.insert(all, line) end
  file:close()
  local n = tonumber(os.getenv("THREADS") or "1")
  -- Thread `id` takes every n-th token: no two threads share one.
  for i = id + 1, #all, n do table.insert(tokens, all[i]) end
  acked = 0
  other = 0
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  counter = counter + 1
  local token = tokens[counter]
  if token == nil then
    token = "00000000000000000000000000000000"
  end
  local nps = (counter * 7) % 11
  local fcr = (counter % 3 == 0) and "no" or "yes"
  return wrk.format(nil, "/s/" .. token, nil, "nps=" .. nps .. "&fcr=" .. fcr .. "&comment=load+test")
end

function response(status, headers, body)
  if status == 303 then acked = acked + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("acked")
    o = o + t:get("other")
  end
  io.write(string.format("ACKED %d\nOTHER %d\n", a, o))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("P%s_MS %.3f\n", p, latency:percentile(p) / 1000.0))
  end
  io.write(string.format("REQUESTS %d\nSECONDS %.3f\n", summary.requests, summary.duration / 1e6))
end
