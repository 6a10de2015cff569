-- Release leases whatever became of the reserves that took them (one that timed out may
-- still land later): remove each from its sets and leave a release mark that reserve.lua
-- checks, so a late reserve with that lease id takes nothing. Idempotent.
-- ARGV[1]: the marks' time to live (ms): at least the lease TTL, after which a late lease
-- is expired anyway. Then per lease: ARGV[j] = n, ARGV[j+1] = its lease id, and its KEYS:
-- n lease sets followed by its release mark.
local keep = ARGV[1]
local k, j = 1, 2
while j <= #ARGV do
  local n, id = tonumber(ARGV[j]), ARGV[j + 1]
  for i = k, k + n - 1 do
    redis.call('ZREM', KEYS[i], id)
  end
  redis.call('SET', KEYS[k + n], '1', 'PX', keep)
  k, j = k + n + 1, j + 2
end
return 1
