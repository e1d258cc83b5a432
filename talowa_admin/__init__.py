"""The project package, in two floors (DESIGN.md, "Layers").

The ground floor (audit trail, roles, locks, queue helpers, the command base
class, system settings, the read-only admin base in ``admin_base``) imports no
app; the apps import only it. The top (the facade ``services``, the admin
registrations in ``admin``, the admin site, urls, views, monitoring, the
dashboard) imports the apps at module level. ``tests/talowa_admin/test_layers.py``
lists the ground floor's modules and checks both rules.
"""
