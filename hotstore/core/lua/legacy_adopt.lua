-- legacy_adopt: write an entity read from the single-tag layout into its sharded key, only if that key is absent
-- (hotstore/core/legacy_layout.py). Fields are copied as they are, the version kept.
-- KEYS[1] the sharded hash, KEYS[2] its shard's dirty set
-- ARGV[1] dirty member, ARGV[2] the single-tag dirty score ('' = clean), ARGV[3] idle TTL ms,
--         ARGV[4] ISO week ('' = none) and ARGV[5] that week's XP (a user: the single-tag weekly board's score),
--         then field/value pairs
-- Reply   1 written | 0 the sharded key exists already (a concurrent adopter or a re-run came first)
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local HSET_CHUNK = 200  -- pairs per HSET: unpack() is bounded by Lua's C stack
local i = 6
while i <= #ARGV do
  local last = math.min(i + 2 * HSET_CHUNK - 1, #ARGV)
  redis.call('HSET', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[1], F.USER_WEEK) == 0 then
  redis.call('HSET', KEYS[1], F.USER_WEEK, ARGV[4], F.USER_WEEK_XP, ARGV[5])
end
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])  -- dirty: no TTL (invariant 4), first-dirty time kept
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
