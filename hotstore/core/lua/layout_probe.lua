-- layout_probe: which layout a namespace is in (hotstore/core/legacy_layout.py). All keys share the namespace tag.
-- KEYS[1]  the layout marker {ns}:meta:layout
-- KEYS[2..] single-tag keys that hold data not yet upgraded and have no TTL (the three dirty sets, the global
--           board, the weekly boards still kept): any of them present means the namespace is still being upgraded
-- ARGV[1]  the marker's value ("sharded:<SHARDS>"); ARGV[2] '1': set the marker when none of KEYS[2..] exists
-- Reply    2 the marker is set | 1 single-tag data is present | 0 none (the marker was set if ARGV[2] == '1')
if redis.call('GET', KEYS[1]) == ARGV[1] then return 2 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 1 end
end
if ARGV[2] == '1' then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
