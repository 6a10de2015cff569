-- Unconditional add to a sliding-window counter (current count never below 0).
-- KEYS[1]: counter hash; ARGV: now, amount, window. Returns {prev, curr} after the add.
local now, amount, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local raw = redis.call('HMGET', KEYS[1], 'b', 'p', 'c')
local bucket = math.floor(now / window)
local b, p, c = tonumber(raw[1]), tonumber(raw[2]) or 0, tonumber(raw[3]) or 0
if b == nil or b < bucket - 1 then
  p, c = 0, 0
elseif b == bucket - 1 then
  p, c = c, 0
else
  bucket = math.max(bucket, b)
end
c = math.max(0, c + amount)
redis.call('HSET', KEYS[1], 'b', bucket, 'p', p, 'c', c)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 2000) + 1000)
return {p, c}
