"""The authorization server's protocol steps that are not grants: client authentication, redirect-URI matching,
revocation and introspection. Typed functions over typed values, like :mod:`pixie.server.grants` (no HTTP framework
here)."""
