"""``u2live serve``: an HTTP API and a web page over one model (FastAPI + uvicorn, the optional extra ``serve``).

``settings`` holds what the command configures; ``inference`` the one model and its bounded pool; ``uploads`` reads
request bodies within limits and decodes images; ``jobs`` runs video jobs; ``app`` has the routes and turns every
expected failure into ``{"error": "one line"}``; ``page/`` is the web page, plain HTML and JavaScript.
"""
