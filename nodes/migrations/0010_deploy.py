# Deploy (issue 7): script sets of the deployment job (the image write in the ephemeral
# environment). Choices only: no schema change.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('nodes', '0009_machinetoken_options'),
    ]

    operations = [
        migrations.AlterField(
            model_name='scriptset',
            name='result_type',
            field=models.CharField(choices=[('commissioning', 'Commissioning'), ('testing', 'Testing'), ('enlistment', 'Enlistment'), ('deployment', 'Deployment')], max_length=16),
        ),
    ]
