"""A Django app for a team's own project that shares tollgate's database: its settings name the models to keep embedded.

Add ``"project.embeddings.sources.contrib"`` to ``INSTALLED_APPS`` and, in the settings::

    TOLLGATE_SOURCES = {
        "articles": {"model": "blog.Article", "fields": ["title", "body"]},
        "tickets": {"model": "support.Ticket", "fields": ["description"], "embedding_model": "text-embedding-3-large"},
    }

After each ``manage.py migrate`` the models are registered (``register.py``); tollgate's workers
make the sources. Nothing of tollgate's runs in the team's processes.
"""
