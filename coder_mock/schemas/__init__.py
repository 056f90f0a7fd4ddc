"""marshmallow schemas named after Coder's Go types, one module per API section."""
