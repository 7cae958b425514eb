"""HTTP edges: the JSON API (``api/``) and, later, the staff pages."""
