"""The tokensim verification server, its command line and its test harness."""

__all__: list[str] = []
