"""Once granted the roles their permissions; the roles table (oms_site/roles.py) does that now, after every
migrate, so this step is kept empty only as a link in the chain of migrations that follow it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("oms_site", "0005_import_roles"),
        ("orders", "0006_channel_api_keys_intake"),
    ]

    operations = []
