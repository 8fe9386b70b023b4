"""Storage, in layers: the ports (:mod:`~pixie.storage.interfaces`, :mod:`~pixie.storage.records`), every store's
SQL written once (:mod:`~pixie.storage.statements`), the two drivers that run it (:mod:`~pixie.storage.sqlite`,
:mod:`~pixie.storage.pg`), and the schema with its migrations and the URL dispatch
(:mod:`~pixie.storage.schema`: ``open_storage(url)``)."""
