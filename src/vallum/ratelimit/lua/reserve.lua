-- All-or-nothing check-and-reserve over every limit of one call (mirrors algorithms.py).
-- KEYS[i]: counter i. ARGV[1] now (caller's clock), ARGV[2] lease id, ARGV[3] lease TTL (s),
-- then per counter i: ARGV[4i], ARGV[4i+1], ARGV[4i+2], ARGV[4i+3] =
--   algorithm ('r' GCRA, 'w' sliding window, 'l' lease), limit, period (s), cost.
-- Returns {admitted, then per counter: allowed, remaining, reset_ms, retry_ms (-1: never)}.
-- Nothing is written unless every counter has room.
local now = tonumber(ARGV[1])
local lease_id = ARGV[2]
local lease_ttl = tonumber(ARGV[3])
local EPS = 1e-9

local function ms(seconds)
  local v = math.ceil(seconds * 1000 - 1e-6)
  if v < 0 then return 0 end
  return v
end

local function rate(key, limit, period, cost)
  local raw = redis.call('GET', key)
  local base = now
  if raw then base = math.max(tonumber(raw), now) end
  if limit <= 0 then return {0, 0, 0, -1}, nil end
  local interval = period / limit
  local new_tat = base + cost * interval
  if new_tat - now <= period + EPS then
    local remaining = math.floor((period - (new_tat - now)) / interval + EPS)
    return {1, remaining, ms(new_tat - now), 0}, new_tat
  end
  local retry = -1
  if cost <= limit then retry = ms(new_tat - now - period) end
  local remaining = math.floor((period - (base - now)) / interval + EPS)
  if remaining < 0 then remaining = 0 end
  return {0, remaining, ms(base - now), retry}, nil
end

local function window_retry(p, c, elapsed, period, limit, cost)
  if cost > limit then return -1 end
  local room = limit - cost - c
  if room >= 0 and p > 0 then
    return ms(math.max(0, period * (1 - room / p) - elapsed))
  end
  local rest = period - elapsed
  if c <= 0 then return ms(rest) end
  return ms(rest + math.max(0, period * (1 - (limit - cost) / c)))
end

local function window(key, limit, period, cost)
  local raw = redis.call('HMGET', key, 'b', 'p', 'c')
  local bucket = math.floor(now / period)
  local b, p, c = tonumber(raw[1]), tonumber(raw[2]) or 0, tonumber(raw[3]) or 0
  if b == nil or b < bucket - 1 then
    p, c = 0, 0
  elseif b == bucket - 1 then
    p, c = c, 0
  else
    bucket = math.max(bucket, b)
  end
  local elapsed = 0
  if bucket * period <= now then elapsed = now - bucket * period end
  local used = c + math.ceil(p * (period - elapsed) / period - EPS)
  if used < 0 then used = 0 end
  local reset_c = c
  if used + cost <= limit then
    reset_c = c + cost
    local reset = period - elapsed
    if reset_c > 0 then reset = reset + period end
    return {1, limit - used - cost, ms(reset), 0}, {bucket, p, c + cost}
  end
  local reset = period - elapsed
  if reset_c > 0 then reset = reset + period end
  local remaining = limit - used
  if remaining < 0 then remaining = 0 end
  return {0, remaining, ms(reset), window_retry(p, c, elapsed, period, limit, cost)}, nil
end

local function lease(key, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local live = redis.call('ZCARD', key)
  if live + 1 <= limit then return {1, limit - live - 1, 0, 0}, true end
  local retry = 1000
  if limit <= 0 then retry = -1 end
  local remaining = limit - live
  if remaining < 0 then remaining = 0 end
  return {0, remaining, 0, retry}, nil
end

local out = {1}
local writes = {}
for i, key in ipairs(KEYS) do
  local algo = ARGV[4 * i]
  local limit, period, cost = tonumber(ARGV[4 * i + 1]), tonumber(ARGV[4 * i + 2]), tonumber(ARGV[4 * i + 3])
  local state, new
  if algo == 'r' then
    state, new = rate(key, limit, period, cost)
  elseif algo == 'w' then
    state, new = window(key, limit, period, cost)
  else
    state, new = lease(key, limit)
  end
  if state[1] == 0 then out[1] = 0 end
  for j = 1, 4 do out[#out + 1] = state[j] end
  writes[i] = {algo, new, period}
end

if out[1] == 1 then
  for i, key in ipairs(KEYS) do
    local algo, new, period = writes[i][1], writes[i][2], writes[i][3]
    if algo == 'r' then
      redis.call('SET', key, string.format('%.17g', new), 'PX', ms(new - now) + 1000)
    elseif algo == 'w' then
      redis.call('HSET', key, 'b', new[1], 'p', new[2], 'c', new[3])
      redis.call('PEXPIRE', key, math.ceil(period * 2000) + 1000)
    else
      redis.call('ZADD', key, string.format('%.17g', now + lease_ttl), lease_id)
      redis.call('PEXPIRE', key, math.ceil(lease_ttl * 1000) + 60000)
    end
  end
end
return out
