"""Tests of hotstore.writebehind: flush, board rebuild, idle sweep and the invariants the write-behind keeps."""
