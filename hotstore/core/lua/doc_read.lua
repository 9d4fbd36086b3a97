-- doc_read: read a document and give a clean one its idle TTL back. A document is a bot document
-- ({hs}:d:<bot>:<key>) or a user's session in one bot ({hs}:s:<bot>:<tg>): its data is the 's:<key>' fields (in a
-- session: session_data itself), its state the field F.DOCUMENT_STATE (hotstore/core/documents.py).
-- KEYS[1] the hash
-- ARGV     prelude head, then: n, n field names (n = 0: the state and every data field)
-- Reply    {'OK', one value per name (nil when absent; a chunked value joined back: hotstore/core/codec.py)} (n > 0)
--          | {'OK', state or nil, flat data fields, chunk parts included} (n = 0)
--          | {'MISS'}
load_blocks()
local key = KEYS[1]
local n = tonumber(next_arg())
if n > 0 then
  if redis.call('EXISTS', key) == 0 then return {'MISS'} end
  local names = {}
  for i = 1, n do names[i] = next_arg() end
  refresh(key)
  local values = redis.call('HMGET', key, unpack(names))
  for i = 1, n do
    local value = values[i]
    if value and string.sub(value, 1, 1) == 'c' then
      local parts = {string.sub(value, string.find(value, ':', 1, true) + 1)}
      for j = 1, chunk_count(value) - 1 do
        parts[#parts + 1] = redis.call('HGET', key, names[i] .. '\0' .. j) or ''
      end
      values[i] = table.concat(parts)
    end
  end
  return {'OK', values}
end
local flat = redis.call('HGETALL', key)
if #flat == 0 then return {'MISS'} end
refresh(key)
local prefix = F.SESSION_FIELD_PREFIX
local state, data = false, {}
for i = 1, #flat, 2 do
  local name = flat[i]
  if name == F.DOCUMENT_STATE then
    state = flat[i + 1]
  elseif string.sub(name, 1, #prefix) == prefix then
    data[#data + 1] = name; data[#data + 1] = flat[i + 1]
  end
end
return {'OK', state, data}
