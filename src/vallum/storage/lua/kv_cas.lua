-- Compare-and-set. KEYS[1]: the key.
-- ARGV: mode ('absent' or 'equal'), expected, new value, ttl in ms ('' for none). Returns 1 if set.
local current = redis.call('GET', KEYS[1])
if ARGV[1] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
