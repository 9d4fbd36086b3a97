-- delete_user: remove a user's hot state from their shard in one atomic step: the user hash, their session
-- hashes and their dirty marks (their board entries are other slots: hotstore.durable.deletion removes them).
-- KEYS[1] user hash, KEYS[2] dirty users zset, KEYS[3] dirty sessions zset (the user's shard),
-- KEYS[4 .. 3+n] the user's session hashes
-- ARGV[1] user member of the dirty users set (telegram id), ARGV[2] n,
-- ARGV[3 .. 2+n] dirty-sessions members ('<bot>:<telegram id>') in the order of the session keys
-- Reply   number of keys deleted plus members removed
local n = tonumber(ARGV[2])
local removed = redis.call('DEL', KEYS[1])
removed = removed + redis.call('ZREM', KEYS[2], ARGV[1])
for i = 1, n do
  removed = removed + redis.call('DEL', KEYS[3 + i])
  removed = removed + redis.call('ZREM', KEYS[3], ARGV[2 + i])
end
return removed
