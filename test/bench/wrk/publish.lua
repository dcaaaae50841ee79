-- wrk script for the REST publish rate: POST /v1/publish, one message per request, each to another
-- user: channel of a user connected nowhere (as most order events find their shopper): the REST API
-- and history; presence routes such a message to no node, so the bus carries nothing (the route
-- lookup still runs). publish-online.lua publishes to connected users instead. The API key comes
-- from BENCH_PUBLISH_KEY.
local key = os.getenv("BENCH_PUBLISH_KEY")
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

local counter = 0
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }

function request()
  counter = counter + 1
  local body = string.format(
    '{"channel":"user:wrk-%d-%d","event":"order.status","data":{"orderId":"o-%d","status":"shipped"}}',
    thread_id, counter % 10000, counter)
  return wrk.format("POST", nil, headers, body)
end
