"""The HTTP face of the server: the FastAPI app, its routes, dependencies, problem details, schemas.

No domain module imports this package: the routes call the domain through
:class:`~tokensim.server.service.Service` and turn its errors into problem details.
"""

__all__: list[str] = []
