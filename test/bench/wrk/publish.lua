-- wrk script for the REST publish rate: POST /v1/publish, one message per request, each to another
-- user: channel. The API key comes from BENCH_PUBLISH_KEY.
--  - BENCH_WRK_USERS unset or 0: users connected nowhere (as most order events find their shopper):
--    the REST API and history; presence routes such a message to no node, so the bus carries nothing
--    (the route lookup still runs).
--  - BENCH_WRK_USERS=N: the user: channel of a random bench client (bench-0 to bench-N-1, all connected
--    and subscribed): presence routes each to the node holding the user, which writes it to the client
--    (the bus carries it there when that is the other node).
local key = os.getenv("BENCH_PUBLISH_KEY")
local users = tonumber(os.getenv("BENCH_WRK_USERS") or "0")
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
  local channel
  if users > 0 then
    channel = string.format("user:bench-%d", math.random(0, users - 1))
  else
    channel = string.format("user:wrk-%d-%d", thread_id, counter % 10000)
  end
  local body = string.format(
    '{"channel":"%s","event":"order.status","data":{"orderId":"o-%d","status":"shipped"}}',
    channel, counter)
  return wrk.format("POST", nil, headers, body)
end
