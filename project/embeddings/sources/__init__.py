"""Sources: a user's own tables kept embedded (capture, drain, versions, search, their SQL face).

``capture.py`` (triggers into the change queue), ``drain.py`` (a sync cycle), ``rows.py`` (a
version's rows follow the table), ``versions.py`` (migrate, cut over, drop), ``search.py``,
``view.py`` (the SQL view and nearest function), ``status.py`` (what every face shows),
``follow.py`` (what workers do continuously), ``registry.py`` (add, remove),
``register.py`` and ``contrib/`` (a Django project that shares the database registers its models).
"""
