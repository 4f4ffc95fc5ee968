-- POST /api/auth/sign-up/email with a unique address per request.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
-- Each thread gets its own id (set by setup); every address is new across runs and threads.
local run = os.getenv("BENCH_RUN_ID") or tostring(os.time())
local counter = 0
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench","email":"su-%s-%d-%d@example.com","password":"bench-password-123"}',
    run, thread_id, counter)
  return wrk.format("POST", "/api/auth/sign-up/email", {["Content-Type"] = "application/json"}, body)
end
