"""The search's error: a search that cannot run as asked (the CLI reports it in one line, exit status 2)."""


class SearchError(ValueError):
    """A search that cannot run as asked (reported in one line by the CLI)."""


__all__ = ["SearchError"]
