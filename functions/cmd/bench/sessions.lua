-- Heartbeats (again=1: round robin for the whole phase) or releases (each
-- session once; the phase ends when all are) the sessions in the file ids.
-- Thread id takes every threads-th line from line id, so no session is
-- in both threads' shares.

function init(args)
   A = config(args)
   path = A.path
   again = A.again == "1"
   mine = {}
   local step, i = tonumber(A.threads), 0
   for line in io.lines(A.ids) do
      if i % step == id then mine[#mine + 1] = line end
      i = i + 1
   end
   nxt = 1
   inflight = 0
   -- wrk calls request() once on thread 0 before the run, to check that
   -- the request parses, and never sends it: it must not use up a session.
   checking = id == 0
end

function request()
   if checking then
      checking = false
      return post(path, '{"session_id":"check"}')
   end
   if nxt > #mine then
      if inflight == 0 then finish() end
      -- Nothing left: wrk writes an empty request as nothing at all and
      -- leaves the connection idle, counting no error.
      return ""
   end
   local s = mine[nxt]
   nxt = nxt + 1
   if again and nxt > #mine then nxt = 1 end
   inflight = inflight + 1
   return post(path, '{"session_id":"' .. s .. '"}')
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   inflight = inflight - 1
   if not again and released_nothing(status, body) then
      not_released = not_released + 1
   end
   if nxt > #mine and inflight == 0 then finish() end
end
