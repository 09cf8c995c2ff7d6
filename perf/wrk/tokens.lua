-- wrk script of perf/src/bin/http_load.rs: every request is `GET` of the URL's path with
-- `Authorization: Bearer TOKEN`, the tokens taken in turn from a file (one a line), each wrk
-- thread cycling through its own share of them; at the end, the results as one line of JSON.
--
-- Environment: PERF_TOKENS (the token file), PERF_THREADS (wrk's -t), PERF_RESULT (where to
-- write the JSON). The requests are formatted once, in init, so that sending costs the client
-- the same whichever file it is given.

local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  local threads = tonumber(os.getenv("PERF_THREADS"))
  prepared = {}
  count = 0
  local line_number = 0
  for token in io.lines(os.getenv("PERF_TOKENS")) do
    if line_number % threads == id - 1 then
      count = count + 1
      prepared[count] = wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. token })
    end
    line_number = line_number + 1
  end
  if count == 0 then
    error("no token for thread " .. id)
  end
  index = 0
end

function request()
  index = index % count + 1
  return prepared[index]
end

function done(summary, latency, requests)
  local errors = summary.errors
  local out = assert(io.open(os.getenv("PERF_RESULT"), "w"))
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  out:close()
end
