from django.db import migrations


class Migration(migrations.Migration):
    """Rows posted from an 835 before LedgerEntry.effective_date existed take the payment's date (BPR16)."""

    dependencies = [
        ("claims", "0004_ledger_effective_date"),
        ("denials", "0002_appeals_notes_deposits"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
                UPDATE claims_ledgerentry AS e SET effective_date = p.payment_date
                  FROM denials_erapayment AS p
                 WHERE e.source = '835' AND e.source_ref = p.public_id::text AND p.payment_date IS NOT NULL;
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
