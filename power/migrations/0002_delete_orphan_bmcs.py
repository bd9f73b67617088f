"""Delete BMC rows no machine uses: earlier versions left them, secrets and all, on delete."""
from django.db import migrations


def delete_orphan_bmcs(apps, schema_editor):
    BMC = apps.get_model("power", "BMC")
    BMC.objects.filter(machines__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("power", "0001_initial"),
        ("nodes", "0003_machine_bmc_machine_power_poll_claimed"),
    ]

    operations = [
        migrations.RunPython(delete_orphan_bmcs, migrations.RunPython.noop),
    ]
