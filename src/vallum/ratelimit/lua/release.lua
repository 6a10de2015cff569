-- Release a lease whatever became of the reserve that took it (one that timed out may
-- still land later): remove it from its sets and leave a release mark that reserve.lua
-- checks, so a late reserve with this lease id takes nothing. Idempotent.
-- KEYS[1..n-1]: lease sets, KEYS[n]: the release mark; ARGV[1] lease id, ARGV[2] the
-- mark's time to live (ms): at least the lease TTL, after which a late lease is expired.
local id = ARGV[1]
for i = 1, #KEYS - 1 do
  redis.call('ZREM', KEYS[i], id)
end
redis.call('SET', KEYS[#KEYS], '1', 'PX', ARGV[2])
return 1
