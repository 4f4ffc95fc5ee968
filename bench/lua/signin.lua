-- POST /api/auth/sign-in/email for one existing user (BENCH_EMAIL / BENCH_PASSWORD).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "POST"
wrk.path = "/api/auth/sign-in/email"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"email":"%s","password":"%s"}',
  assert(os.getenv("BENCH_EMAIL")), assert(os.getenv("BENCH_PASSWORD")))
