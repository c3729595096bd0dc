"""Makers of the ecosystem corpus (``tests/assets/ecosystem``), one module per library family.

Each module has a ``make(corpus)`` function that writes files with the real libraries' own save functions
and records every file it wrote in the corpus manifest. ``tests/assets/make_ecosystem.py`` runs them all.
"""
