-- save_session: replace a session's documents whole (session_data, and stats_data unless kept).
-- KEYS[1] session hash, KEYS[2] dirty sessions zset
-- ARGV     prelude head, then: session member, replace_stats ('1' | '0'),
--          n, n pairs of session fields ('s:<key>', encoded value), m, m pairs of stats fields ('t:<key>', ...)
-- Reply    {'OK', new version} | {'MISS'}
load_blocks()
local session, dirty_sessions = KEYS[1], KEYS[2]
if absent(session) then return {'MISS'} end
local member = next_arg()
local replace_stats = next_arg() == '1'

local old = redis.call('HKEYS', session)
local doomed = {}
for _, name in ipairs(old) do
  local prefix = string.sub(name, 1, 2)
  if prefix == F.SESSION_FIELD_PREFIX or (replace_stats and prefix == F.STATS_FIELD_PREFIX) then
    doomed[#doomed + 1] = name
  end
end
for i = 1, #doomed, HSET_CHUNK do
  redis.call('HDEL', session, unpack(doomed, i, math.min(i + HSET_CHUNK - 1, #doomed)))
end

for _ = 1, 2 do  -- the session block, then the stats block (empty when stats are kept)
  local n = tonumber(next_arg())
  local pairs = {}
  for i = 0, 2 * n - 1 do pairs[#pairs + 1] = ARGV[POS + i] end
  POS = POS + 2 * n
  hset_pairs(session, pairs)
end
redis.call('HSET', session, F.SESSION_UPDATED_MS, int_text(NOW))
return {'OK', mark_dirty(session, dirty_sessions, member)}
