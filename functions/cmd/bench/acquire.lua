-- Acquires (make bench's warm-up and acquire phases).
--
-- No response(): with one, wrk hands every answer to Lua as a table of its
-- headers and a string of its ~2.3 KB body, which cost wrk a quarter of its
-- CPU per acquire (19 against 23-27 µs, measured with time(1) on wrk). wrk
-- still counts every answer with a status above 399 as an error; the bench
-- then lists the granted sessions through the admin API and checks there
-- are as many as successful acquires.

function init(args)
   A = config(args)
   numbering(A)
end

function request()
   return acquire()
end
