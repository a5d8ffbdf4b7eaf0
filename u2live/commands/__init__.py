"""One module per ``u2live`` command; :mod:`u2live.cli` registers them."""
