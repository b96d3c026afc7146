"""The migration scripts, oldest first by their ``rev_NNNN`` prefix."""

__all__: list[str] = []
