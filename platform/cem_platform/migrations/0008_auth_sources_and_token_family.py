"""Logins: failures counted per user name and address (the pair is locked, not the account); rotated refresh tokens remembered so a reuse ends the session."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('cem', '0007_alarm_texts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginFailure',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(max_length=64)),
                ('ip', fields.CharField(max_length=45)),
                ('failures', fields.IntField(default=0)),
                ('last_failed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'auth_login_failure', 'app': 'cem', 'unique_together': (('username', 'ip'),), 'pk_attr': 'id', 'table_description': 'Failed logins of one user name from one address: that pair is locked, never the account itself.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UsedRefreshToken',
            fields=[
                ('hash', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('session', fields.ForeignKeyField('cem.LoginSession', source_field='session_id', db_constraint=True, to_field='id', related_name='used_refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('used_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'auth_refresh_used', 'app': 'cem', 'pk_attr': 'hash', 'table_description': 'A refresh token already rotated away. Presented again, it was copied: the whole session (its family) ends.'},
            bases=['Model'],
        ),
    ]

