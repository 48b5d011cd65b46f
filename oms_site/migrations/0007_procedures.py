"""The operations manual's standard operating procedures and their versions (oms_site/manual/models.py)."""

import django.db.models.deletion
import django.utils.timezone
import oms_site.manual.links
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("oms_site", "0006_channel_key_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Procedure",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "slug",
                    models.SlugField(
                        help_text="Its address in the manual, e.g. hold-review.", max_length=60, unique=True
                    ),
                ),
                ("title", models.CharField(max_length=150)),
                (
                    "governs",
                    models.CharField(
                        blank=True,
                        choices=oms_site.manual.links.governed_page_choices,
                        help_text="The console page that shows this procedure. Blank: only the manual.",
                        max_length=30,
                        verbose_name="shown on",
                    ),
                ),
                ("body", models.TextField(help_text="Markdown; raw HTML is shown as text.")),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "procedure",
                "ordering": ["title"],
                "permissions": [("view_manual", "Can read the operations manual")],
            },
        ),
        migrations.CreateModel(
            name="ProcedureVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("title", models.CharField(max_length=150)),
                ("governs", models.CharField(blank=True, max_length=30, verbose_name="shown on")),
                ("body", models.TextField()),
                ("note", models.CharField(blank=True, max_length=200, verbose_name="what changed")),
                (
                    "restored_from",
                    models.PositiveIntegerField(
                        blank=True, help_text="The version whose text this one brought back.", null=True
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("created_by_name", models.CharField(blank=True, max_length=150, verbose_name="by")),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "procedure",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="versions", to="oms_site.procedure"
                    ),
                ),
            ],
            options={
                "verbose_name": "procedure version",
                "ordering": ["procedure", "-number"],
            },
        ),
        migrations.AddConstraint(
            model_name="procedure",
            constraint=models.UniqueConstraint(
                condition=models.Q(("governs", ""), _negated=True),
                fields=("governs",),
                name="procedure_governs_one_page",
            ),
        ),
        migrations.AddConstraint(
            model_name="procedureversion",
            constraint=models.UniqueConstraint(fields=("procedure", "number"), name="procedureversion_unique_number"),
        ),
        migrations.AddConstraint(
            model_name="procedureversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("number__gte", 1)), name="procedureversion_number_positive"
            ),
        ),
    ]
