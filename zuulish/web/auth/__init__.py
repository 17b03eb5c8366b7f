"""Authentication (JSON Web Tokens) and authorization (Zuul's rules) of the web API."""
