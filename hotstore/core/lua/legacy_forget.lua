-- legacy_forget: delete single-tag hashes and their dirty marks once their sharded copies exist
-- (hotstore/core/legacy_layout.py). All keys share the namespace tag {ns}.
-- KEYS[1..3] the single-tag dirty sets of users, sessions, documents; KEYS[4..] the single-tag hashes
-- ARGV    per hash: kind ('u' | 's' | 'd'), dirty member
-- Reply   the number of hashes deleted
local dirty = {u = KEYS[1], s = KEYS[2], d = KEYS[3]}
local deleted = 0
for i = 4, #KEYS do
  local at = (i - 4) * 2 + 1
  deleted = deleted + redis.call('DEL', KEYS[i])
  redis.call('ZREM', dirty[ARGV[at]], ARGV[at + 1])
end
return deleted
