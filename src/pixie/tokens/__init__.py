"""Tokens: signing keys (:mod:`.keys`), signing Pixie's own tokens (:mod:`.signing`), token issuance
(:mod:`.issuer`) and checking Pixie's own tokens when they come back (:mod:`.validation`, through the one JOSE
verification path, :mod:`pixie.resource.jws`)."""
