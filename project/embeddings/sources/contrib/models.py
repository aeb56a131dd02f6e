"""No tables of its own: this module is here so that Django sends the app ``post_migrate`` (it skips apps without one)."""
