"""Build-time pipeline: publisher files in ATLAS_RAW_DIR -> Parquet extracts in ATLAS_DATA_DIR.

Imports nothing of the running app (no Dash, no store, no callbacks).
"""
