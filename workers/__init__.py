"""Write-behind workers: arq jobs that flush the hot store to SQL."""
