"""Delivery that follows the registry: HAProxy, blue/green Bento servers and the controller moving them."""
