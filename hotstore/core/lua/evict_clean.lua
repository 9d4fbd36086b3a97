-- evict_clean: delete clean idle entities early, to give Redis memory back when it nears maxmemory.
-- Only an entity with an idle TTL that is not in the dirty set goes (invariant 4: a dirty entity has no TTL and
-- is never evicted); the check and the delete are one atomic step, so a write that dirties it cannot slip between.
-- SQL holds every clean entity: the next call loads it back (read-through). DEL needs no memory, so this script
-- runs while Redis refuses memory-growing writes.
-- KEYS[1]        dirty set (users or sessions)
-- KEYS[2..n+1]   entity hashes, in the order of the members in ARGV
-- ARGV[1..n]     dirty-set member of each hash
-- Reply          number of entities deleted
local dirty = KEYS[1]
local evicted = 0
for i = 2, #KEYS do
  if redis.call('PTTL', KEYS[i]) > 0 and not redis.call('ZSCORE', dirty, ARGV[i - 1]) then
    redis.call('DEL', KEYS[i])
    evicted = evicted + 1
  end
end
return evicted
