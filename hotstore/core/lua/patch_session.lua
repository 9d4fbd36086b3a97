-- patch_session: atomic per-field changes of a session's documents: set, integer increment, delete.
-- Fields are already prefixed ('s:<key>' or 't:<key>'); a field appears in at most one of the lists.
-- KEYS[1] session hash, KEYS[2] dirty sessions zset
-- ARGV     prelude head, then: session member, max encoded bytes per document,
--          n, n pairs (field, encoded value) to set; m, m pairs (field, integer delta) to increment;
--          k, k fields to delete
-- Reply    {'OK', new version, {field, new value, ...} of the increments} | {'MISS'}
--          | {'ERR', 'not_integer' | 'out_of_range' | 'too_large', field or prefix}  (nothing written)
load_blocks()
local session, dirty_sessions = KEYS[1], KEYS[2]
if absent(session) then return {'MISS'} end
local member = next_arg()
local max_bytes = tonumber(next_arg())

local doc = {}
local flat = redis.call('HGETALL', session)
for i = 1, #flat, 2 do doc[flat[i]] = flat[i + 1] end

local writes, increments, deletes = {}, {}, {}
for _ = 1, tonumber(next_arg()) do
  local field, value = next_arg(), next_arg()
  doc[field] = value; writes[#writes + 1] = field; writes[#writes + 1] = value
end
for _ = 1, tonumber(next_arg()) do
  local field, delta = next_arg(), tonumber(next_arg())
  local current = doc[field]
  if current ~= nil and string.sub(current, 1, 1) ~= 'i' then return {'ERR', 'not_integer', field} end
  local value = (current and tonumber(string.sub(current, 2)) or 0) + delta
  -- beyond 2^53 doubles round: refuse before the sum can be inexact
  if math.abs(value) >= EXACT_INT then return {'ERR', 'out_of_range', field} end
  doc[field] = 'i' .. int_text(value)
  writes[#writes + 1] = field; writes[#writes + 1] = doc[field]
  increments[#increments + 1] = field; increments[#increments + 1] = int_text(value)
end
for _ = 1, tonumber(next_arg()) do
  local field = next_arg()
  if doc[field] ~= nil then doc[field] = nil; deletes[#deletes + 1] = field end
end

-- The size limit applies to each document as it will be after the patch.
local sizes = {[F.SESSION_FIELD_PREFIX] = 0, [F.STATS_FIELD_PREFIX] = 0}
for name, value in pairs(doc) do
  local prefix = string.sub(name, 1, 2)
  if sizes[prefix] then sizes[prefix] = sizes[prefix] + #name + #value end
end
for prefix, size in pairs(sizes) do
  if size > max_bytes then return {'ERR', 'too_large', prefix} end
end

hset_pairs(session, writes)
for i = 1, #deletes, HSET_CHUNK do
  redis.call('HDEL', session, unpack(deletes, i, math.min(i + HSET_CHUNK - 1, #deletes)))
end
redis.call('HSET', session, F.SESSION_UPDATED_MS, int_text(NOW))
return {'OK', mark_dirty(session, dirty_sessions, member), increments}
