"""Each tag row carries its ticket's status, kept in step by triggers (desk/tags.py), so
that the queue counts or reads a tag's tickets in a status off (tag, status) alone."""

from typing import Any

from django.db import migrations, models


def _create(apps: Any, schema_editor: Any) -> None:
    from nextorder.desk.tags import tag_status_triggers_create

    tag_status_triggers_create(schema_editor.connection)


def _drop(apps: Any, schema_editor: Any) -> None:
    from nextorder.desk.tags import tag_status_triggers_drop

    tag_status_triggers_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("desk", "0015_search_statistics")]

    operations = [
        migrations.AddField(
            model_name="tickettag",
            name="ticket_status",
            field=models.CharField(
                choices=[
                    ("new", "New"),
                    ("open", "Open"),
                    ("pending", "Pending"),
                    ("solved", "Solved"),
                    ("closed", "Closed"),
                ],
                default="new",
                editable=False,
                max_length=10,
            ),
        ),
        migrations.RunPython(_create, _drop),
        migrations.AddIndex(
            model_name="tickettag",
            index=models.Index(
                fields=["tag", "ticket_status", "ticket"], name="ticket_tag_status_idx"
            ),
        ),
    ]
