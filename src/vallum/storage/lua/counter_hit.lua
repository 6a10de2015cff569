-- All-or-nothing sliding-window hits (two-bucket weighted window, see _window.py).
-- KEYS[i]: counter hash of hit i (fields b = bucket, p = previous count, c = current count)
-- ARGV[1]: the caller's clock now(); ARGV[3i-1], ARGV[3i], ARGV[3i+1]: cost, limit, window of hit i
-- Returns {1 if all recorded else 0, prev_1, curr_1, prev_2, curr_2, ...}:
-- each hit's counts after it when recorded, before the call when not.
local now = tonumber(ARGV[1])
local states = {}

local function load(key, window)
  local s = states[key]
  if s then return s end
  local raw = redis.call('HMGET', key, 'b', 'p', 'c')
  local bucket = math.floor(now / window)
  local b, p, c = tonumber(raw[1]), tonumber(raw[2]) or 0, tonumber(raw[3]) or 0
  if b == nil or b < bucket - 1 then
    p, c = 0, 0
  elseif b == bucket - 1 then
    p, c = c, 0
  else
    bucket = math.max(bucket, b)
  end
  s = {b = bucket, p = p, c = c, w = window}
  states[key] = s
  return s
end

local function used(s)
  local elapsed = now - math.floor(now / s.w) * s.w
  local u = s.c + math.ceil(s.p * (s.w - elapsed) / s.w)
  if u < 0 then return 0 end
  return u
end

local before = {}
for i, key in ipairs(KEYS) do
  local s = load(key, tonumber(ARGV[3 * i + 1]))
  before[2 * i - 1], before[2 * i] = s.p, s.c
end

local after = {}
for i, key in ipairs(KEYS) do
  local s = states[key]
  if used(s) + tonumber(ARGV[3 * i - 1]) > tonumber(ARGV[3 * i]) then
    return {0, unpack(before)}
  end
  s.c = s.c + tonumber(ARGV[3 * i - 1])
  after[2 * i - 1], after[2 * i] = s.p, s.c
end

for key, s in pairs(states) do
  redis.call('HSET', key, 'b', s.b, 'p', s.p, 'c', s.c)
  redis.call('PEXPIRE', key, math.ceil(s.w * 2000) + 1000)
end
return {1, unpack(after)}
