"""The server's test harness: enrolling and logging in with emulated devices, the plugin's server.

A harness package: it may import :mod:`tokensim.emulators`; the domain and the HTTP app never import it.
"""

__all__: list[str] = []
