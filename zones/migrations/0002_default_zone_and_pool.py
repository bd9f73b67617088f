"""Create the `default` zone and resource pool, which always exist."""
from django.db import migrations


def create_defaults(apps, schema_editor):
    for model in ("Zone", "ResourcePool"):
        apps.get_model("zones", model).objects.get_or_create(
            name="default", defaults={"description": "Default " + model.lower()}
        )


class Migration(migrations.Migration):
    dependencies = [("zones", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
