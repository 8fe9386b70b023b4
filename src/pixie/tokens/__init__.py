"""Tokens: signing keys (:mod:`.keys`), JOSE operations (:mod:`.signing`) and token issuance (:mod:`.issuer`)."""
