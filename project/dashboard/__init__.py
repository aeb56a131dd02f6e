"""The dashboard: server-rendered pages that htmx refreshes in place while jobs run."""
