"""The OpenAPI 3.1 document of the whole service and its offline reference page."""
