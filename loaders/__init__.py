"""The loaders, one module per kind of source. Importing this package registers them all."""

from loaders import gct, h5ad, hgnc, long_table, signatures  # noqa: F401
