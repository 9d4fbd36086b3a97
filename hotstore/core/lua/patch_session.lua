-- patch_session: atomic per-field changes of a session's documents: set, integer increment, delete.
-- Fields are already prefixed ('s:<key>' or 't:<key>'); a field appears in at most one of the lists.
-- KEYS[1] session hash, KEYS[2] dirty sessions zset
-- ARGV     prelude head, then: session member, max encoded bytes per document,
--          n, n pairs (field, encoded value) to set (a chunked value: its head, then its parts);
--          m, m pairs (field, integer delta) to increment; k, k fields to delete
-- Reply    {'OK', new version, {field, new value, ...} of the increments} | {'MISS'}
--          | {'ERR', 'not_integer' | 'out_of_range' | 'too_large', field or prefix}  (nothing written)
load_blocks()
local session, dirty_sessions = KEYS[1], KEYS[2]
local flat = redis.call('HGETALL', session)  -- read once: absent when empty, then the patch's plan
if #flat == 0 then return {'MISS'} end
local member = next_arg()
local max_bytes = tonumber(next_arg())
local plan, code, detail = plan_patch(flat, max_bytes)
if plan == nil then return {'ERR', code, detail} end
write_patch(session, plan)
return {'OK', mark_dirty(session, dirty_sessions, member), plan[3]}
