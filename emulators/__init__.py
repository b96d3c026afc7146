"""Every Secure Login System device as an emulated state machine."""

__all__: list[str] = []
