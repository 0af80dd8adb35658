-- The part every phase script shares: the bench writes it in front of each.
-- wrk runs the script in one Lua state per thread (init, request,
-- response) and in one more (setup, done), which reaches the threads only
-- through thread:get and thread:set, and those only see globals: what
-- done() reads is global in the threads.

local threads = {}

-- setup numbers the threads, so each can take its own share of the work.
function setup(thread)
   thread:set("id", #threads)
   threads[#threads + 1] = thread
end

codes = {}       -- responses by status
not_released = 0 -- release answers that freed no seat: a session released twice

-- config reads the bench's key=value arguments (args[0] is the URL).
function config(args)
   local a = {}
   for _, s in pairs(args) do
      local k, v = string.match(s, "^([%w_]+)=(.*)$")
      if k then a[k] = v end
   end
   return a
end

-- post builds the request by hand: wrk.format walks the header table on
-- every call, a cost the load generator would add to every request.
local heads = {}
function post(path, body)
   local h = heads[path]
   if not h then
      h = "POST " .. path .. " HTTP/1.1\r\nHost: " .. wrk.headers["Host"] ..
         "\r\nContent-Type: application/json\r\nContent-Length: "
      heads[path] = h
   end
   return h .. #body .. "\r\n\r\n" .. body
end

-- numbering gives the thread its workstation numbers: base+id, then every
-- threads-th number after it, so that no two acquires of one bench run
-- name the same workstation; n is the thread's next, and done() reports
-- the highest for the next phase's base.
function numbering(a)
   n = tonumber(a.base) + id
   step = tonumber(a.threads)
   keys = {}
   for line in io.lines(a.keys) do keys[#keys + 1] = line end
end

-- acquire asks for a seat for a workstation never seen before, the
-- licenses taken in turn: every acquire is a grant, with a signed lease.
function acquire()
   local m = n
   n = n + step
   return post("/v1/acquire", string.format(
      '{"license_key":"%s","fingerprint":"ws-%d","hostname":"host-%d","user":"dev-%d"}',
      keys[m % #keys + 1], m, m, m % 500))
end

function session_id(status, body)
   if status == 200 then
      return string.match(body, '"session_id":"([^"]+)"')
   end
end

function released_nothing(status, body)
   return status == 200 and string.find(body, '"released":false', 1, true) ~= nil
end

-- finish stops this thread once it has nothing left to send and nothing in
-- flight, and tells the bench, which interrupts wrk when every thread has:
-- wrk's main thread otherwise sleeps out the whole duration.
function finish()
   if finished then return end
   finished = true
   io.write("STOPPED\n")
   io.stdout:flush()
   wrk.thread:stop()
end

-- done prints the one line the bench reads, from the thread tables copied
-- into this state after the run.
function done(summary, latency)
   local total, seq, unreleased = {}, 0, 0
   for _, t in ipairs(threads) do
      for status, count in pairs(t:get("codes")) do
         total[status] = (total[status] or 0) + count
      end
      seq = math.max(seq, t:get("n") or 0)
      unreleased = unreleased + t:get("not_released")
   end
   local c = {}
   for status, count in pairs(total) do
      c[#c + 1] = string.format('"%d":%d', status, count)
   end
   local e = summary.errors
   io.write(string.format('WRK {"requests":%d,"duration_us":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"codes":{%s},"not_released":%d,"seq":%d}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
      table.concat(c, ","), unreleased, seq))
end
