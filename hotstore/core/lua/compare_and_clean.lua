-- compare_and_clean: after a flush committed, clean every entity whose version is still the flushed one.
-- An entity written again since the flush read it stays dirty (invariant 2) and moves to the back of the
-- dirty set (its state as of the read is in SQL; only later changes are pending), so entities rewritten
-- faster than they are flushed cannot starve the others. A clean entity gets the idle TTL; an entity
-- whose hash is gone has nothing left to flush and just leaves the dirty set.
-- Needs the field table F (hotstore.scripts.field_table()).
-- KEYS[1]        dirty set (users or sessions)
-- KEYS[2..n+1]   the entity hashes, in the order of the pairs in ARGV
-- ARGV[1]        idle TTL of clean entities, ms
-- ARGV[2]        score for entities that stay dirty (epoch ms, later than any score the flush took)
-- ARGV[3..]      n pairs: dirty member, flushed version ('' = the hash was absent when read)
-- Reply          {cleaned, kept}
-- Under maxmemory, Redis refuses a script at its first memory-growing write (ZADD) unless a write ran before:
-- the cleans (ZREM, PEXPIRE: they need no memory) go first, so a full Redis still cleans; if nothing is cleaned
-- the script may be refused as a whole, and then nothing changed (every member stays dirty).
local dirty = KEYS[1]
local ttl, requeue_at = ARGV[1], ARGV[2]
local cleaned, requeue = 0, {}
for i = 2, #KEYS do
  local key = KEYS[i]
  local member, flushed = ARGV[2 * i - 1], ARGV[2 * i]
  if redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', dirty, member)
    cleaned = cleaned + 1
  elseif redis.call('HGET', key, F.VERSION) == flushed then
    redis.call('ZREM', dirty, member)
    redis.call('PEXPIRE', key, ttl)
    cleaned = cleaned + 1
  else
    requeue[#requeue + 1] = member
  end
end
for _, member in ipairs(requeue) do
  redis.call('ZADD', dirty, 'XX', requeue_at, member)
end
return {cleaned, #requeue}
