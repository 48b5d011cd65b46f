"""Once granted the roles their permissions; the roles table (oms_site/roles.py) does that now, after every
migrate, so this step is kept empty only as a link in the chain of migrations that follow it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("orders", "0002_customer_name_trigram_index"),
        ("inventory", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = []
