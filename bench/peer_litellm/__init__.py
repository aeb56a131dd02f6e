"""LiteLLM's Router as a peer: several processes sharing Redis, routing one pool's deployments by usage.

It lives in a throwaway virtualenv outside the project's dependencies (``venv.py``); each process
is ``worker.py`` run by that virtualenv's Python, which imports LiteLLM and nothing of ours.
"""
