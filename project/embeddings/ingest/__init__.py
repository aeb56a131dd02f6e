"""Stage 1, ingest: texts and files become Document and Chunk rows, in batches written with COPY.

``files.py`` reads bytes as text (binary, NUL bytes, empty files); ``documents.py`` splits texts
into token-bounded chunks and writes them in batches (``rows.py``: COPY); ``streaming.py`` runs
an ingest whose every batch is planned and sent to the workers as it commits.
"""
