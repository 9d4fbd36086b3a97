-- rebuild_chunk: add one chunk of SQL rows to a board being rebuilt, preferring the hot value.
-- A hash still in Redis (possibly dirty, i.e. newer than SQL) holds the truth for its member: XP only
-- grows in normal operation, so the larger of the SQL score and the hash's score is the current one.
-- KEYS[1]        the temporary board
-- KEYS[2..n+1]   the hashes that hold each member's hot score (user or session hashes), as in ARGV
-- ARGV[1]        hash field of the hot score
-- ARGV[2]        TTL of the temporary board, ms (a crashed rebuild leaves nothing behind for long)
-- ARGV[3..]      n pairs: board member, score in SQL
-- Reply          number of members written
local board, field, ttl = KEYS[1], ARGV[1], ARGV[2]
local written = 0
for i = 2, #KEYS do
  local member, score = ARGV[2 * i - 1], ARGV[2 * i]
  local hot = redis.call('HGET', KEYS[i], field)
  if hot and tonumber(hot) > tonumber(score) then score = hot end
  redis.call('ZADD', board, score, member)
  written = written + 1
end
if written > 0 then redis.call('PEXPIRE', board, ttl) end
return written
