-- Settle one call: correct window counters to real usage, release its leases.
-- KEYS[1..n]: window counters to adjust; KEYS[n+1..]: lease sets.
-- ARGV[1] lease id, ARGV[2] n, then per window i: ARGV[2i+1], ARGV[2i+2] =
--   delta, the bucket the reservation went into.
-- The delta goes to the bucket that holds the reservation: the current one, or the
-- previous one if a bucket boundary passed meanwhile; older reservations have expired.
local lease_id = ARGV[1]
local n = tonumber(ARGV[2])
for i = 1, n do
  local key = KEYS[i]
  local delta, bucket = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  local raw = redis.call('HMGET', key, 'b', 'p', 'c')
  local b = tonumber(raw[1])
  if b == bucket then
    redis.call('HSET', key, 'c', math.max(0, (tonumber(raw[3]) or 0) + delta))
  elseif b == bucket + 1 then
    redis.call('HSET', key, 'p', math.max(0, (tonumber(raw[2]) or 0) + delta))
  end
end
for i = n + 1, #KEYS do
  redis.call('ZREM', KEYS[i], lease_id)
end
return 1
