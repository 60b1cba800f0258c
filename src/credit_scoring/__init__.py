"""Credit scoring for Prêt à Dépenser: one domain package imported by training, serving and monitoring."""

__all__ = ["__version__"]
__version__ = "0.1.0"
