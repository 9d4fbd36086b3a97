-- delete_user: remove every Redis trace of one user in one atomic step: the user hash, their session
-- hashes, their dirty marks and their entries on the global, per-bot and weekly boards.
-- KEYS[1] user hash, KEYS[2] dirty users zset, KEYS[3] dirty sessions zset, KEYS[4] global board,
-- KEYS[5 .. 4+n] the user's session hashes, KEYS[5+n .. 4+2n] the same bots' boards,
-- KEYS[5+2n ..] weekly boards
-- ARGV[1] user member of the dirty users set (telegram id), ARGV[2] board member, ARGV[3] n,
-- ARGV[4 .. 3+n] dirty-sessions members ('<bot>:<telegram id>') in the order of the session keys
-- Reply   number of keys deleted plus members removed
local n = tonumber(ARGV[3])
local removed = redis.call('DEL', KEYS[1])
removed = removed + redis.call('ZREM', KEYS[2], ARGV[1])
removed = removed + redis.call('ZREM', KEYS[4], ARGV[2])
for i = 1, n do
  removed = removed + redis.call('DEL', KEYS[4 + i])
  removed = removed + redis.call('ZREM', KEYS[3], ARGV[3 + i])
  removed = removed + redis.call('ZREM', KEYS[4 + n + i], ARGV[2])
end
for i = 5 + 2 * n, #KEYS do
  removed = removed + redis.call('ZREM', KEYS[i], ARGV[2])
end
return removed
