-- wrk script for the REST publish rate to connected users: POST /v1/publish, one message per request,
-- each to the user: channel of a random bench client (BENCH_WRK_USERS of them, bench-0 to bench-N-1,
-- all connected and subscribed): presence routes each to the node holding the user, which writes it
-- to the client (the bus carries it there when that is the other node). The API key comes from
-- BENCH_PUBLISH_KEY.
local key = os.getenv("BENCH_PUBLISH_KEY")
local users = tonumber(os.getenv("BENCH_WRK_USERS"))
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(thread_id + 1)
end

local counter = 0
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }

function request()
  counter = counter + 1
  local body = string.format(
    '{"channel":"user:bench-%d","event":"order.status","data":{"orderId":"o-%d","status":"shipped"}}',
    math.random(0, users - 1), counter)
  return wrk.format("POST", nil, headers, body)
end
