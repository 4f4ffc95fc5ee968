-- POST /api/internal/validate with a JWT from /api/auth/token (BENCH_JWT).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
wrk.method = "POST"
wrk.path = "/api/internal/validate"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-gateway-auth"] = assert(os.getenv("BENCH_GATEWAY_SECRET"))
wrk.body = string.format('{"jwt":"%s"}', assert(os.getenv("BENCH_JWT")))
