-- rebuild_chunk: add one chunk of scores to a board being rebuilt (the caller already took the hot value of each
-- member still in Redis over its SQL score: the entity hashes are other slots).
-- KEYS[1]        the temporary board
-- ARGV[1]        TTL of the temporary board, ms (a crashed rebuild leaves nothing behind for long)
-- ARGV[2..]      n pairs: board member, score
-- Reply          number of members written
local board, ttl = KEYS[1], ARGV[1]
local written = 0
for i = 2, #ARGV, 2 do
  redis.call('ZADD', board, ARGV[i + 1], ARGV[i])
  written = written + 1
end
if written > 0 then redis.call('PEXPIRE', board, ttl) end
return written
