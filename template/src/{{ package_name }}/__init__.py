"""A Knative service that receives CloudEvents with FastAPI (see ``main.py``)."""
