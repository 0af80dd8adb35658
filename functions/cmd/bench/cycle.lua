-- The life of a session as the SDK lives it: acquire, heartbeat three
-- times, release. A session's calls are sequential, as an SDK's are: its
-- next call is queued only when the answer to the last one arrives. Work
-- waiting for a session goes first; otherwise a new workstation acquires.
-- A session stays with the thread that acquired it.

function init(args)
   A = config(args)
   numbering(A)
   todo = {}    -- sessions whose next call may go now: {id, heartbeats left}
   waiting = {} -- sessions with a heartbeat in flight: heartbeats left after it
end

function request()
   local s = table.remove(todo)
   if not s then
      return acquire()
   end
   local body = '{"session_id":"' .. s[1] .. '"}'
   if s[2] > 0 then
      -- Marked before it goes, so the answer finds it.
      waiting[s[1]] = s[2] - 1
      return post("/v1/heartbeat", body)
   end
   return post("/v1/release", body)
end

-- response tells a heartbeat's answer from an acquire's by waiting: both
-- carry the session id. A release's answer carries none; the session is
-- done.
function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   local id = session_id(status, body)
   if not id then
      if released_nothing(status, body) then not_released = not_released + 1 end
      return
   end
   local left = waiting[id]
   if left then
      waiting[id] = nil
      todo[#todo + 1] = {id, left}
   else
      todo[#todo + 1] = {id, 3}
   end
end
