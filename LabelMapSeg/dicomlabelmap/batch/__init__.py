"""Batch conversion of folder trees: planning, jobs, the local process pool and the Dask cluster."""
