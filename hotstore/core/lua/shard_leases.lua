-- shard_leases: one flush worker's heartbeat and its share of the namespace's shard leases, in one atomic step
-- (hotstore.writebehind.leases). Every key is under the namespace tag, so the script is legal on a cluster.
-- refresh: drop workers whose heartbeat is older than the lease, record this worker's heartbeat, compute its
--   share, give back the leases above it, renew the ones it keeps and claim free shards up to it.
--   Shares are deterministic: the live workers sorted by id, S shards over N workers, the first S mod N get
--   ceil(S/N) and the others floor(S/N), so the shares add up to S and every shard has one owner once each
--   worker refreshed twice. A shard is free when its lease is absent or held by a worker that is not live
--   (its heartbeat is gone: it stopped more than a lease ago, by the clients' clock).
-- release: give back every lease of this worker and leave the workers set (a clean stop: takeover is at once).
-- Redis refuses a script without flags under maxmemory only at a memory-growing write (ZADD, SET) that comes
-- before every other write: ZREMRANGEBYSCORE (which needs no memory) goes first, so the leases are kept and
-- shared on a Redis above maxmemory too, where the flush must go on to make entities clean and evictable.
-- KEYS[1]        the live workers (ZSET, member = worker id, score = ms of its last heartbeat)
-- KEYS[2..S+1]   the lease of shard 0..S-1 (STRING: the id of the worker holding it)
-- ARGV[1]        this worker's id
-- ARGV[2]        now, epoch ms (the client's clock: every worker of a namespace uses the same convention)
-- ARGV[3]        lease length, ms (> 0)
-- ARGV[4]        'refresh' or 'release'
-- Reply          the shards this worker holds now, ascending (empty after a release)
local workers, me, now, lease_ms = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local shards = #KEYS - 1

if ARGV[4] == 'release' then
  for i = 2, #KEYS do
    if redis.call('GET', KEYS[i]) == me then redis.call('DEL', KEYS[i]) end
  end
  redis.call('ZREM', workers, me)
  return {}
end

redis.call('ZREMRANGEBYSCORE', workers, '-inf', string.format('(%.0f', now - lease_ms))
local live, is_live, rank = redis.call('ZRANGE', workers, 0, -1), {}, nil
for _, id in ipairs(live) do is_live[id] = true end
if not is_live[me] then
  live[#live + 1] = me
  is_live[me] = true
end
table.sort(live)
for i, id in ipairs(live) do
  if id == me then rank = i - 1 end
end
local share = math.floor(shards / #live)
if rank < shards % #live then share = share + 1 end

local held, free = {}, {}
for shard = 0, shards - 1 do
  local holder = redis.call('GET', KEYS[shard + 2])
  if holder == me then
    held[#held + 1] = shard
  elseif not holder or not is_live[holder] then
    free[#free + 1] = shard
  end
end

local kept = {}
for i, shard in ipairs(held) do
  if i <= share then
    redis.call('PEXPIRE', KEYS[shard + 2], lease_ms)
    kept[#kept + 1] = shard
  else
    redis.call('DEL', KEYS[shard + 2])
  end
end
redis.call('ZADD', workers, ARGV[2], me)
redis.call('PEXPIRE', workers, lease_ms)
for _, shard in ipairs(free) do
  if #kept >= share then break end
  redis.call('SET', KEYS[shard + 2], me, 'PX', lease_ms)
  kept[#kept + 1] = shard
end
table.sort(kept)
return kept
