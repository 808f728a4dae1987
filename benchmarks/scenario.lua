-- One wrk scenario, driven by environment variables the harness sets:
--   BENCH_REQUESTS  file with one request per line: METHOD<TAB>PATH<TAB>BODY<TAB>ETAG<TAB>IF-NONE-MATCH
--                   (all but method and path optional; ETAG goes out as If-Match)
--   BENCH_HEADERS   extra headers, "Name: value" separated by "|"
--   BENCH_MODE      "rotate" (each thread cycles through every line) or "own" (thread N owns line N and
--                   sends If-Match with the ETag it last saw, so PATCHes never collide)
--   BENCH_RATE      requests per second per thread (0 = as fast as the server answers)
--   BENCH_OUT       where done() writes the summary as JSON
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1

local function now_ms()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function split(line, sep)
  local parts = {}
  local start = 1
  while true do
    local i = string.find(line, sep, start, true)
    if not i then
      table.insert(parts, string.sub(line, start))
      return parts
    end
    table.insert(parts, string.sub(line, start, i - 1))
    start = i + #sep
  end
end

local function load_requests()
  local list = {}
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    if line ~= "" then
      local p = split(line, "\t")
      table.insert(list, { method = p[1], path = p[2], body = p[3] ~= "" and p[3] or nil, etag = p[4],
                          none_match = p[5] })
    end
  end
  return list
end

local thread_counter = 0
function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_index", thread_counter)
end

local requests, headers, mode, interval, next_at, cursor, own
local sent = 0

function init(args)
  requests = load_requests()
  headers = {}
  for _, h in ipairs(split(os.getenv("BENCH_HEADERS") or "", "|")) do
    local i = string.find(h, ":", 1, true)
    if i then
      headers[string.sub(h, 1, i - 1)] = string.gsub(string.sub(h, i + 1), "^%s+", "")
    end
  end
  mode = os.getenv("BENCH_MODE") or "rotate"
  local rate = tonumber(os.getenv("BENCH_RATE") or "0")
  interval = rate > 0 and 1000 / rate or 0
  next_at = nil
  local index = thread_index or 1
  cursor = (index - 1) % #requests
  if mode == "own" then
    own = requests[cursor + 1]
  end
end

function delay()
  if interval == 0 then
    return 0
  end
  local t = now_ms()
  if next_at == nil then
    -- Spread the threads' first requests over one interval instead of firing them together.
    next_at = t + math.random() * interval
  end
  local wait = next_at - t
  next_at = next_at + interval
  if wait < 0 then
    return 0
  end
  return math.floor(wait)
end

function request()
  local r
  if mode == "own" then
    r = own
  else
    r = requests[cursor + 1]
    cursor = (cursor + 1) % #requests
  end
  local h = {}
  for k, v in pairs(headers) do
    h[k] = v
  end
  -- The API answers JSON, the pages HTML: ask each for what a real client would, with its own
  -- credentials (a mix carries both: a REST client sends no session cookie, a browser no token).
  if string.sub(r.path, 1, 5) == "/api/" then
    h["Accept"] = "application/json"
    h["Cookie"] = nil
  else
    h["Accept"] = "text/html"
    h["Authorization"] = nil
  end
  local body = r.body
  if body then
    h["Content-Type"] = "application/json"
    sent = sent + 1
    body = string.gsub(body, "{n}", tostring(sent))
  end
  if r.etag and r.etag ~= "" then
    h["If-Match"] = r.etag
  end
  if r.none_match and r.none_match ~= "" then
    h["If-None-Match"] = r.none_match
  end
  return wrk.format(r.method, r.path, h, body)
end

if os.getenv("BENCH_MODE") == "own" then
  function response(status, response_headers, body)
    for k, v in pairs(response_headers) do
      if string.lower(k) == "etag" then
        own.etag = v
      end
    end
  end
end

function done(summary, latency, _)
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"mean_us": %.1f, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout
  ))
  out:close()
end
