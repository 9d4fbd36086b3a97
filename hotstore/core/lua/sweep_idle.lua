-- sweep_idle: give the idle TTL to clean entities that have none, so idle entities leave Redis.
-- A dirty entity is never given a TTL (invariant 4); the check and the PEXPIRE are one atomic step, so a
-- write that marks an entity dirty cannot slip between them.
-- KEYS[1]        dirty set (users or sessions)
-- KEYS[2..n+1]   entity hashes, in the order of the members in ARGV
-- ARGV[1]        idle TTL, ms
-- ARGV[2..n+1]   dirty-set member of each hash
-- Reply          number of entities given the idle TTL
local dirty, ttl = KEYS[1], ARGV[1]
local expired = 0
for i = 2, #KEYS do
  if redis.call('PTTL', KEYS[i]) == -1 and not redis.call('ZSCORE', dirty, ARGV[i]) then
    redis.call('PEXPIRE', KEYS[i], ttl)
    expired = expired + 1
  end
end
return expired
