-- One wrk script for every operation of the benchmark (bench/run.py drives it):
--   wrk -t2 -c32 -d15s -s bench/wrk/tickets.lua http://127.0.0.1:8000 -- <op> <pool file> <threads>
-- op: open | list | status | get | search | mixed (60 % list, 20 % open, 15 % status, 5 % get),
-- or a web page: page_tickets (an employee's list) | page_queue | page_ticket (as the agent).
-- search mirrors bench/run.py's search operation: 30 % a common word form (newest first),
-- 30 % a rare error code E-<0..BENCH_CODES-1> (newest first), 20 % a code and 20 % a word
-- by relevance.
-- Tokens come from BENCH_AGENT_TOKEN (list, status, get, search, the agent's pages),
-- BENCH_EMPLOYEE_TOKEN (open) and BENCH_PAGE_EMPLOYEE_TOKEN (page_tickets); pages send them
-- as the session cookie, as a browser does.
-- The pool file holds one pre-seeded ticket guid a line, all 'open' at the start of a run.
-- Each thread walks its own slice of the pool in order: the first pass moves every ticket
-- to processing, the next back to open, and so on, so no two requests race on a ticket.

local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local agent = os.getenv("BENCH_AGENT_TOKEN")
local employee = os.getenv("BENCH_EMPLOYEE_TOKEN")
local page_employee = os.getenv("BENCH_PAGE_EMPLOYEE_TOKEN")
local op, pool, slice, next_status = "list", {}, {}, 0

function init(args)
  op = args[1] or "list"
  local nthreads = tonumber(args[3] or "1")
  local i = 0
  for line in io.lines(args[2]) do
    if line ~= "" then
      table.insert(pool, line)
      if i % nthreads == tid then table.insert(slice, line) end
      i = i + 1
    end
  end
  math.randomseed(os.time() + tid * 7919)
end

local open_body = '{"text": "Bench: не работает VPN\\nС утра не подключается из дома.", "service": "general"}'
local agent_headers = nil
local employee_headers = nil

local function headers(token, json)
  local h = { ["Authorization"] = "Bearer " .. token }
  if json then h["Content-Type"] = "application/json" end
  return h
end

local function do_open()
  return wrk.format("POST", "/api/v1/tickets", headers(employee, true), open_body)
end

local function do_list()
  return wrk.format("GET", "/api/v1/tickets?status=open&limit=50", headers(agent, false))
end

local function do_get()
  local guid = pool[math.random(#pool)]
  return wrk.format("GET", "/api/v1/tickets/" .. guid, headers(agent, false))
end

local function page(path, token)
  return wrk.format("GET", path, { ["Cookie"] = "ts_session=" .. token, ["Accept"] = "text/html" })
end

-- принтеры сканеры ошибки паролем доступы, percent-encoded
local search_words = {
  "%D0%BF%D1%80%D0%B8%D0%BD%D1%82%D0%B5%D1%80%D1%8B",
  "%D1%81%D0%BA%D0%B0%D0%BD%D0%B5%D1%80%D1%8B",
  "%D0%BE%D1%88%D0%B8%D0%B1%D0%BA%D0%B8",
  "%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D0%B5%D0%BC",
  "%D0%B4%D0%BE%D1%81%D1%82%D1%83%D0%BF%D1%8B",
}

local codes = tonumber(os.getenv("BENCH_CODES") or "2500")

local function do_search()
  local r = math.random(100)
  local query
  if r <= 30 or r > 80 then query = "q=" .. search_words[math.random(#search_words)]
  else query = "q=E-" .. math.random(0, codes - 1) end
  if r > 60 then query = query .. "&sort=relevance" end
  return wrk.format("GET", "/api/v1/tickets?limit=50&" .. query, headers(agent, false))
end

local function do_status()
  local n = #slice
  local guid = slice[(next_status % n) + 1]
  local target = (math.floor(next_status / n) % 2 == 0) and "processing" or "open"
  next_status = next_status + 1
  return wrk.format("POST", "/api/v1/tickets/" .. guid .. "/status", headers(agent, true),
                    '{"status": "' .. target .. '"}')
end

-- wrk calls request() once on thread 0 before the run to inspect it (and sends nothing):
-- answer that call with a harmless list, so it does not skip a ticket of the status cycle.
local first_call = true

function request()
  if first_call then
    first_call = false
    if tid == 0 then return do_list() end
  end
  if op == "open" then return do_open()
  elseif op == "list" then return do_list()
  elseif op == "get" then return do_get()
  elseif op == "status" then return do_status()
  elseif op == "page_tickets" then return page("/tickets", page_employee)
  elseif op == "page_queue" then return page("/queue", agent)
  elseif op == "page_ticket" then return page("/tickets/" .. pool[math.random(#pool)], agent)
  elseif op == "search" then return do_search()
  end
  local r = math.random(100)
  if r <= 60 then return do_list()
  elseif r <= 80 then return do_open()
  elseif r <= 95 then return do_status()
  else return do_get() end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_status": %d, ' ..
    '"errors_timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
