"""``framefind serve``: the REST API (FastAPI, OpenAPI at /docs) and the web app, over one library."""
