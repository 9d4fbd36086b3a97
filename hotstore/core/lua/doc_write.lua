-- doc_write: change a document's state and data in one atomic step (a bot document or a user's session in one
-- bot: see doc_read.lua). A write that would change nothing writes nothing: no version bump, no dirty mark.
-- KEYS[1] the hash, KEYS[2] its dirty set
-- ARGV     prelude head, then: dirty member, max encoded bytes of the data, reply ('1': the data after the write),
--          state op ('-' keep | 'x' clear | '=<state>' set), data op ('-' keep | 'r' replace | 'm' merge),
--          n, n pairs (field 's:<key>', encoded value) to set, k, k fields to delete (merge only)
-- Reply    {'OK', version, flat data fields after the write (reply '1') or {}} | {'MISS'}
--          | {'ERR', 'too_large', bytes}  (nothing written)
load_blocks()
local key, dirty = KEYS[1], KEYS[2]
if absent(key) then return {'MISS'} end
local member = next_arg()
local max_bytes = tonumber(next_arg())
local want = next_arg() == '1'
local state_op = next_arg()
local data_op = next_arg()
local prefix = F.SESSION_FIELD_PREFIX

local doc = {}
if data_op ~= '-' or want then
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, #prefix) == prefix then doc[flat[i]] = flat[i + 1] end
  end
end

local new_state = nil  -- nil: unchanged, false: cleared, a string: set
if state_op ~= '-' then
  local old = redis.call('HGET', key, F.DOCUMENT_STATE)
  if state_op == 'x' then
    if old then new_state = false end
  else
    local value = string.sub(state_op, 2)
    if old ~= value then new_state = value end
  end
end

local writes, deletes = {}, {}
if data_op ~= '-' then
  local given, replaced = {}, {}
  -- A chunked value (hotstore/core/codec.py) is a head field and parts '<field>\0<i>': a key set again or deleted
  -- must not leave parts of its old value behind.
  local function drop_parts(field, old)
    for i = 1, chunk_count(old) - 1 do
      local part = field .. '\0' .. i
      if doc[part] ~= nil and not given[part] then deletes[#deletes + 1] = part end
    end
  end
  for _ = 1, tonumber(next_arg()) do
    local field, value = next_arg(), next_arg()
    given[field] = true
    if not string.find(field, '\0', 1, true) then replaced[field] = doc[field] end
    if doc[field] ~= value then
      doc[field] = value; writes[#writes + 1] = field; writes[#writes + 1] = value
    end
  end
  for field, old in pairs(replaced) do drop_parts(field, old) end
  if data_op == 'r' then
    for field in pairs(doc) do
      if not given[field] then deletes[#deletes + 1] = field end
    end
  end
  for _ = 1, tonumber(next_arg()) do
    local field = next_arg()
    if doc[field] ~= nil then
      drop_parts(field, doc[field])
      deletes[#deletes + 1] = field
    end
  end
  for _, field in ipairs(deletes) do doc[field] = nil end
end

if #writes > 0 or #deletes > 0 then
  local size = 0
  for name, value in pairs(doc) do size = size + #name + #value end
  if size > max_bytes then return {'ERR', 'too_large', int_text(size)} end
end

local reply = {}
if want then
  for name, value in pairs(doc) do reply[#reply + 1] = name; reply[#reply + 1] = value end
end
if new_state == nil and #writes == 0 and #deletes == 0 then
  refresh(key)
  return {'OK', tonumber(redis.call('HGET', key, F.VERSION) or '0'), reply}
end
hset_pairs(key, writes)
for i = 1, #deletes, HSET_CHUNK do
  redis.call('HDEL', key, unpack(deletes, i, math.min(i + HSET_CHUNK - 1, #deletes)))
end
if new_state == false then
  redis.call('HDEL', key, F.DOCUMENT_STATE)
elseif new_state ~= nil then
  redis.call('HSET', key, F.DOCUMENT_STATE, new_state)
end
redis.call('HSET', key, F.SESSION_UPDATED_MS, int_text(NOW))
return {'OK', mark_dirty(key, dirty, member), reply}
