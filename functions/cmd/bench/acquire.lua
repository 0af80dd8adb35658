-- Acquires (make bench's warm-up and acquire phases). With ids_out, the
-- granted sessions are kept, and done() writes them there for the
-- heartbeat and release phases.

function init(args)
   A = config(args)
   numbering(A)
   collect = A.ids_out ~= nil
   granted = {}
end

function request()
   return acquire()
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   if collect then
      local id = session_id(status, body)
      if id then granted[#granted + 1] = id end
   end
end
