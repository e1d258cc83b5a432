"""Data migration: a backup chain's data, transformed by rules, into another
database or an export (``migrate_data``).

Why here, in ``recovery``: DESIGN puts migration under recovery, and the
work is a restore elsewhere. It reads a chain with the restore machinery
(``recovery.services.restoring``, never a second archive decoder) and writes
what it restored, so it sits above ``backups`` like every restore; the
export target reuses ``backups.exports`` through ``export_data``.

Parts, no arrow running back up: ``rules`` (the file and its validation),
``anonymising`` (pseudonyms), ``databases`` (child processes, attached
databases, fingerprints), ``selecting`` (row filters, in SQL on the scratch
copy), ``streaming`` (field rules and the target writer). The orchestrator
is ``recovery.services.data_migration``.
"""
