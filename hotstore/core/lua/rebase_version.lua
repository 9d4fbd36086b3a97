-- rebase_version: after a Redis rollback, lift entities' versions above SQL's so that their next flush applies.
-- A rolled-back Redis (an older snapshot, a promoted lagging replica) hands out versions SQL has already seen, and
-- the version-guarded upsert skips them. Redis's current state is the truth (invariant 11): each entity whose hash
-- still has the version the flush read gets version = SQL's + 1 and stays dirty (no TTL). An entity written since
-- the read is left alone: its own next flush meets the conflict again and rebases then (a concurrent write is
-- never lost, invariant 2).
-- KEYS[1]        dirty set (users or sessions)
-- KEYS[2..n+1]   the entity hashes, in the order of the triples in ARGV
-- ARGV[1]        now, epoch ms (dirty score if the member had left the dirty set)
-- ARGV[2..]      n triples: dirty member, version the flush read, version SQL holds
-- Reply          number of entities rebased
local dirty, now = KEYS[1], ARGV[1]
local rebased = 0
for i = 2, #KEYS do
  local key = KEYS[i]
  local member, read, sql = ARGV[3 * i - 4], ARGV[3 * i - 3], ARGV[3 * i - 2]
  if redis.call('HGET', key, F.VERSION) == read then
    redis.call('HSET', key, F.VERSION, string.format('%.0f', tonumber(sql) + 1))
    redis.call('ZADD', dirty, 'NX', now, member)
    redis.call('PERSIST', key)
    rebased = rebased + 1
  end
end
return rebased
