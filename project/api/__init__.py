"""The REST API (Django REST framework): documents in, jobs watched and steered, search, limiter usage."""
