"""A real OpenID Connect provider for the single sign-on tests: django-oauth-toolkit (RS256), run as
a second Django server in a subprocess (``serve``) with its own settings and a SQLite database."""
