from tests.conftest import spec  # noqa: F401  (the session-wide official spec fixture)
