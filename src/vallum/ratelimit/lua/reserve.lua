-- All-or-nothing check-and-reserve over every limit of one call (mirrors algorithms.py).
-- KEYS[i]: counter i (n of them); KEYS[n+1], when present: the lease id's release mark.
-- ARGV[1] now (caller's clock), ARGV[2] lease id, ARGV[3] lease TTL (s),
-- then per counter i: ARGV[4i], ARGV[4i+1], ARGV[4i+2], ARGV[4i+3] =
--   algorithm ('r' GCRA, 'w' sliding window, 'l' lease), limit, period (s), cost.
-- Returns {admitted, then per counter: allowed, remaining, reset_ms, retry_ms (-1: never)}.
-- Nothing is written unless every counter has room, nor when the release mark exists: the
-- call timed out waiting for this reply and released its lease already (release.lua), so
-- this reserve, landing late, must take nothing ({0} alone is returned).
-- Cheap by design (it runs on every call): one read per counter, reply values in one table, numbers handed to redis.call
-- as numbers (Redis formats them with %.17g: exact), and a window in the same bucket
-- written with one HINCRBY (its TTL, set when the bucket began, still covers it).
local now = tonumber(ARGV[1])
local n = (#ARGV - 3) / 4
local EPS = 1e-9
local floor, ceil = math.floor, math.ceil
local call = redis.call

local function ms(seconds)
  local v = ceil(seconds * 1000 - 1e-6)
  if v < 0 then return 0 end
  return v
end

if #KEYS > n and redis.call('EXISTS', KEYS[n + 1]) == 1 then return {0} end

local out = {1}
local o = 1
local algos, news, aux = {}, {}, {}
local admitted = true

for i = 1, n do
  local key = KEYS[i]
  local a = 4 * i
  local algo = ARGV[a]
  local limit, period, cost = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local ok, remaining, reset, retry = 0, 0, 0, 0
  algos[i] = algo
  if algo == 'r' then
    local raw = call('GET', key)
    local base = now
    if raw then
      base = tonumber(raw)
      if base < now then base = now end
    end
    if limit <= 0 then
      retry = -1
    else
      local interval = period / limit
      local new_tat = base + cost * interval
      if new_tat - now <= period + EPS then
        ok, remaining, reset = 1, floor((period - (new_tat - now)) / interval + EPS), ms(new_tat - now)
        news[i] = new_tat
      else
        retry = -1
        if cost <= limit then retry = ms(new_tat - now - period) end
        remaining = floor((period - (base - now)) / interval + EPS)
        if remaining < 0 then remaining = 0 end
        reset = ms(base - now)
      end
    end
  elseif algo == 'w' then
    local raw = call('HMGET', key, 'b', 'p', 'c')
    local bucket = floor(now / period)
    local b, p, c = tonumber(raw[1]), tonumber(raw[2]) or 0, tonumber(raw[3]) or 0
    local same = false
    if b == nil or b < bucket - 1 then
      p, c = 0, 0
    elseif b == bucket - 1 then
      p, c = c, 0
    else
      same = true
      if b > bucket then bucket = b end
    end
    local elapsed = 0
    if bucket * period <= now then elapsed = now - bucket * period end
    local used = c + ceil(p * (period - elapsed) / period - EPS)
    if used < 0 then used = 0 end
    reset = period - elapsed
    if used + cost <= limit then
      ok, remaining = 1, limit - used - cost
      if c + cost > 0 then reset = reset + period end
      if same then news[i] = false else news[i] = {bucket, p, c + cost} end
      aux[i] = cost
    else
      if c > 0 then reset = reset + period end
      remaining = limit - used
      if remaining < 0 then remaining = 0 end
      if cost > limit then
        retry = -1
      else
        local room = limit - cost - c
        if room >= 0 and p > 0 then
          retry = ms(math.max(0, period * (1 - room / p) - elapsed))
        elseif c <= 0 then
          retry = ms(period - elapsed)
        else
          retry = ms(period - elapsed + math.max(0, period * (1 - (limit - cost) / c)))
        end
      end
    end
    reset = ms(reset)
  else
    call('ZREMRANGEBYSCORE', key, '-inf', now)
    local live = call('ZCARD', key)
    if live + 1 <= limit then
      ok, remaining = 1, limit - live - 1
    else
      retry = 1000
      if limit <= 0 then retry = -1 end
      remaining = limit - live
      if remaining < 0 then remaining = 0 end
    end
  end
  if ok == 0 then admitted = false end
  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = ok, remaining, reset, retry
  o = o + 4
end

if not admitted then
  out[1] = 0
  return out
end
local lease_id, lease_ttl = ARGV[2], tonumber(ARGV[3])
for i = 1, n do
  local key = KEYS[i]
  local algo = algos[i]
  if algo == 'r' then
    local new_tat = news[i]
    call('SET', key, new_tat, 'PX', ms(new_tat - now) + 1000)
  elseif algo == 'w' then
    local new = news[i]
    if new then
      -- a new bucket: the key lives two periods from now, enough for this bucket's data
      call('HSET', key, 'b', new[1], 'p', new[2], 'c', new[3])
      call('PEXPIRE', key, ceil(tonumber(ARGV[4 * i + 2]) * 2000) + 1000)
    elseif aux[i] ~= 0 then
      call('HINCRBY', key, 'c', aux[i])
    end
  else
    call('ZADD', key, now + lease_ttl, lease_id)
    call('PEXPIRE', key, ceil(lease_ttl * 1000) + 60000)
  end
end
return out
