"""Kinto's domain (buckets, collections, groups, records, accounts, permissions, history) over the
shared storage. See :mod:`kinbase.core.kinto.model` for how it maps onto parents and objects."""
