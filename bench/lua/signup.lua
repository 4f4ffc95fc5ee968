-- POST /api/auth/sign-up/email with a unique address per request.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local run = os.getenv("BENCH_RUN_ID") or tostring(os.time())
local counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench","email":"su-%s-%d-%d@example.com","password":"bench-password-123"}',
    run, thread_id, counter)
  return wrk.format("POST", "/api/auth/sign-up/email", {["Content-Type"] = "application/json"}, body)
end
