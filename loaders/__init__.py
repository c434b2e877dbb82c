"""The loaders, one module per kind of source. Importing this package registers them all."""

from loaders import annotations, gct, h5ad, hgnc, long_table, references, regulons, signatures  # noqa: F401
