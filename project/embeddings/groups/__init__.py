"""Stage 3, groups: request groups as rows, their queue, their claims, and the sweep.

``life.py`` holds every change to a group row (claim, calling, later, release, stored, finish,
fail, and the sweep's and batch lane's), each checking that the caller still holds the claim;
``queue.py`` writes new groups and sends their tasks; ``inputs.py`` reads what a group sends;
``sweep.py`` re-enqueues groups whose lease ran out.
"""
