"""Storage ports (:mod:`pixie.storage.interfaces`), records, and the SQL implementation in :mod:`pixie.storage.sql`."""
