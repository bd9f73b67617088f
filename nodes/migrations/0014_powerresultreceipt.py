# Issue 13: power outcomes recorded once, keyed by the request id the rack echoes.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('nodes', '0013_known_architectures'),
    ]

    operations = [
        migrations.CreateModel(
            name='PowerResultReceipt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('request_id', models.CharField(max_length=64, unique=True)),
                ('system_id', models.CharField(blank=True, default='', max_length=16)),
                ('created', models.DateTimeField(auto_now_add=True, db_index=True)),
            ],
        ),
    ]
