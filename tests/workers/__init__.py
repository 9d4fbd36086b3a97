"""Tests of the arq worker shell (workers/): jobs, commands, and fault tests with real worker processes."""
