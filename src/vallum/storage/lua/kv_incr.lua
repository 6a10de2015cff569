-- Increment; the ttl applies only when this call creates the key.
-- KEYS[1]: the key. ARGV: amount, ttl in ms ('' for none). Returns the new value.
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
