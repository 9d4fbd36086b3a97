"""Write-behind: dirty hot entities flushed to SQL in batches, lost boards rebuilt, idle keys swept.

The functions here are the whole mechanism; the arq worker (:mod:`workers`) and the in-process flusher both
call them. It imports :mod:`hotstore.core` and :mod:`persistence`, nothing above.
"""
