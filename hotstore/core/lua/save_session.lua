-- save_session: replace a session's documents whole (session_data, and stats_data unless kept).
-- KEYS[1] session hash, KEYS[2] dirty sessions zset
-- ARGV     prelude head, then: session member, replace_stats ('1' | '0'),
--          n, n pairs of session fields ('s:<key>', encoded value), m, m pairs of stats fields ('t:<key>', ...)
-- Reply    {'OK', new version} | {'MISS'}
load_blocks()
local session, dirty_sessions = KEYS[1], KEYS[2]
local old = redis.call('HKEYS', session)
if #old == 0 then return {'MISS'} end  -- Redis keeps no empty hash: no fields means absent
local member = next_arg()
local replace_stats = next_arg() == '1'

-- The new fields overwrite in place; only the document keys the new documents no longer have are deleted
-- (a field deleted and written again costs Redis twice).
local pairs, kept = {}, {}
for _ = 1, 2 do  -- the session block, then the stats block (empty when stats are kept)
  local n = tonumber(next_arg())
  for i = 0, 2 * n - 1, 2 do
    local name = ARGV[POS + i]
    kept[name] = true
    pairs[#pairs + 1] = name
    pairs[#pairs + 1] = ARGV[POS + i + 1]
  end
  POS = POS + 2 * n
end
local doomed = {}
for _, name in ipairs(old) do
  local prefix = string.sub(name, 1, 2)
  if not kept[name] and (prefix == F.SESSION_FIELD_PREFIX or (replace_stats and prefix == F.STATS_FIELD_PREFIX)) then
    doomed[#doomed + 1] = name
  end
end
for i = 1, #doomed, HSET_CHUNK do
  redis.call('HDEL', session, unpack(doomed, i, math.min(i + HSET_CHUNK - 1, #doomed)))
end
pairs[#pairs + 1] = F.SESSION_UPDATED_MS
pairs[#pairs + 1] = int_text(NOW)
hset_pairs(session, pairs)
return {'OK', mark_dirty(session, dirty_sessions, member)}
