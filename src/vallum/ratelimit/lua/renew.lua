-- Renew the leases of calls still running: each one that is live gets a new expiry.
-- KEYS[i]: a lease set; ARGV[1] now (caller's clock), ARGV[2] the new expiry,
-- ARGV[3] the set's time to live (ms), ARGV[3+i]: the lease id in KEYS[i].
-- A lease released or expired meanwhile stays gone (its slot may be someone else's now).
-- Returns how many leases were renewed.
local now, expiry, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local call = redis.call
local renewed = 0
for i, key in ipairs(KEYS) do
  local id = ARGV[3 + i]
  local at = call('ZSCORE', key, id)
  if at and tonumber(at) > now then
    call('ZADD', key, 'XX', expiry, id)
    call('PEXPIRE', key, keep)
    renewed = renewed + 1
  end
end
return renewed
