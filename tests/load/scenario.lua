-- wrk script of the tasks-api benchmark; the same script drives the service and the baseline.
--
--   wrk -s scenario.lua URL -- SCENARIO IDS_FILE TOKEN
--
-- SCENARIO: get (GET /api/v1/tasks/{id}), list (GET /api/v1/tasks?limit=50),
--           create (POST /api/v1/tasks), mixed (80 % get, 20 % create).
-- IDS_FILE: task ids of the benchmark user, one a line (get picks one at random).
-- TOKEN:    bearer token, or "-" to send no Authorization header (the baseline).
-- done() prints one line "BENCH_RESULT {json}" that bench.py parses.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  scenario = args[1]
  ids = {}
  for line in io.lines(args[2]) do
    if line ~= "" then
      ids[#ids + 1] = line
    end
  end
  headers = { ["Accept"] = "application/json" }
  if args[3] ~= nil and args[3] ~= "-" then
    headers["Authorization"] = "Bearer " .. args[3]
  end
  math.randomseed(os.time() * 1000 + thread_number)
  post_headers = {}
  for name, value in pairs(headers) do
    post_headers[name] = value
  end
  post_headers["Content-Type"] = "application/json"
end

local function get_one()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/tasks/" .. id, headers)
end

local function list_page()
  return wrk.format("GET", "/api/v1/tasks?limit=50", headers)
end

local function create_one()
  counter = counter + 1
  local body = string.format(
    '{"title":"bench task %d-%d","description":"created by the benchmark"}',
    thread_number,
    counter
  )
  return wrk.format("POST", "/api/v1/tasks", post_headers, body)
end

function request()
  if scenario == "get" then
    return get_one()
  elseif scenario == "list" then
    return list_page()
  elseif scenario == "create" then
    return create_one()
  elseif math.random() < 0.8 then
    return get_one()
  end
  return create_one()
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.mean, latency.max
  ))
end
