-- Append to a record stream with the next per-stream sequence number.
-- KEYS[1]: sequence counter, KEYS[2]: Redis stream. ARGV: record, time. Returns the sequence.
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], string.format('%d-0', seq), 'r', ARGV[1], 'at', ARGV[2])
return seq
