"""One module per use case. Services flush; the edge (request, command) commits once."""
