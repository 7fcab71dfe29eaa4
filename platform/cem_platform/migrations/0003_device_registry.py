from tortoise import migrations
from tortoise.migrations import operations as ops
from cem_registry.models import CertificateState, DeviceState, DeviceType
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('cem', '0002_dictionaries_and_audit_guard')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CertificateAuthority',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('role', fields.CharField(unique=True, max_length=16)),
                ('subject', fields.CharField(max_length=300)),
                ('certificate_pem', fields.TextField(unique=False)),
                ('key_encrypted', fields.BinaryField(null=True)),
                ('serial', fields.CharField(max_length=64)),
                ('fingerprint', fields.CharField(max_length=64)),
                ('not_after', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('crl_number', fields.BigIntField(default=0)),
                ('crl_pem', fields.TextField(default='', unique=False)),
                ('crl_published_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reg_certificate_authority', 'app': 'cem', 'pk_attr': 'id', 'table_description': "A CA certificate of the platform. The key of the issuing CA is kept here, encrypted with CEM_PKI_PASSPHRASE."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Device',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('serial', fields.CharField(unique=True, max_length=100)),
                ('type', fields.CharEnumField(description='GATEWAY: gateway\nMETER: meter', enum_type=DeviceType, max_length=16)),
                ('name', fields.CharField(default='', max_length=200)),
                ('enterprise', fields.ForeignKeyField('cem.Enterprise', source_field='enterprise_id', db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.RESTRICT)),
                ('site', fields.ForeignKeyField('cem.Site', source_field='site_id', null=True, db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.RESTRICT)),
                ('process', fields.ForeignKeyField('cem.Process', source_field='process_id', null=True, db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.RESTRICT)),
                ('facility', fields.ForeignKeyField('cem.Facility', source_field='facility_id', null=True, db_constraint=True, to_field='id', related_name='devices', on_delete=OnDelete.RESTRICT)),
                ('model', fields.CharField(default='', max_length=100)),
                ('firmware', fields.CharField(default='', max_length=64)),
                ('state', fields.CharEnumField(default=DeviceState.REGISTERED, description='REGISTERED: registered\nENROLLED: enrolled\nACTIVE: active\nSUSPENDED: suspended\nREVOKED: revoked\nRETIRED: retired', enum_type=DeviceState, max_length=16)),
                ('state_reason', fields.CharField(default='', max_length=300)),
                ('last_seen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'reg_device', 'app': 'cem', 'pk_attr': 'id', 'table_description': 'A terminal (gateway or smart meter). Its id is the CN of its certificate and its MQTT identity.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeviceCertificate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('device', fields.ForeignKeyField('cem.Device', source_field='device_id', db_constraint=True, to_field='id', related_name='certificates', on_delete=OnDelete.RESTRICT)),
                ('serial', fields.CharField(unique=True, max_length=64)),
                ('fingerprint', fields.CharField(unique=True, max_length=64)),
                ('public_key_sha256', fields.CharField(db_index=True, max_length=64)),
                ('certificate_pem', fields.TextField(unique=False)),
                ('not_before', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('not_after', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('state', fields.CharEnumField(default=CertificateState.VALID, description='VALID: valid\nON_HOLD: on_hold\nSUPERSEDED: superseded\nREVOKED: revoked', enum_type=CertificateState, max_length=16)),
                ('issued_via', fields.CharField(max_length=16)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revocation_reason', fields.CharField(default='', max_length=32)),
                ('expiry_warned_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reg_device_certificate', 'app': 'cem', 'pk_attr': 'id', 'table_description': 'One certificate issued to a device (its history: enrolment, renewals, re-enrolments).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='EnrolmentToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('device', fields.ForeignKeyField('cem.Device', source_field='device_id', db_constraint=True, to_field='id', related_name='enrolment_tokens', on_delete=OnDelete.RESTRICT)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_by', fields.CharField(max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reg_enrolment_token', 'app': 'cem', 'pk_attr': 'id', 'table_description': 'A one-time enrolment token: only its hash is stored, it expires and is used at most once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceCertificate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('purpose', fields.CharField(max_length=16)),
                ('identity', fields.CharField(max_length=200)),
                ('serial', fields.CharField(unique=True, max_length=64)),
                ('fingerprint', fields.CharField(max_length=64)),
                ('not_after', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'reg_service_certificate', 'app': 'cem', 'pk_attr': 'id', 'table_description': 'A certificate the platform issued to one of its own services (broker server, ingest client).'},
            bases=['Model'],
        ),
    ]
