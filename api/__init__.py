"""The Codex-compatible sales REST API (`/api/codex/v1/sales/...`), served with FastAPI.

`api.app.create_app` builds the application over the ledger and the sales' Temporal
workflows; `api.server` runs it with uvicorn as the `api` role (`worker.py --role api`).
"""
