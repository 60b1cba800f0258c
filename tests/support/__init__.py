"""Helpers shared by test folders: small seeded data and a small real model."""
