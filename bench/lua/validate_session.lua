-- POST /api/internal/validate with a session token (BENCH_TOKEN) and the gateway secret.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "POST"
wrk.path = "/api/internal/validate"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-gateway-auth"] = assert(os.getenv("BENCH_GATEWAY_SECRET"))
wrk.body = string.format('{"token":"%s"}', assert(os.getenv("BENCH_TOKEN")))
