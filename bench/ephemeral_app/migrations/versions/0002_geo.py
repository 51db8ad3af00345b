"""geography: countries, currencies, addresses

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"

COUNTRIES = [("DE", "Germany", "EUR"), ("FR", "France", "EUR"), ("US", "United States", "USD"),
             ("GB", "United Kingdom", "GBP"), ("JP", "Japan", "JPY"), ("CH", "Switzerland", "CHF"),
             ("NL", "Netherlands", "EUR"), ("CA", "Canada", "CAD"), ("IT", "Italy", "EUR"), ("ES", "Spain", "EUR")]


def upgrade() -> None:
    op.create_table(
        "currencies",
        sa.Column("code", sa.CHAR(3), primary_key=True),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("minor_units", sa.SmallInteger, nullable=False, server_default="2"),
    )
    op.create_table(
        "countries",
        sa.Column("code", sa.CHAR(2), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("currency_code", sa.CHAR(3), sa.ForeignKey("currencies.code"), nullable=False),
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("line1", sa.String(200), nullable=False),
        sa.Column("line2", sa.String(200)),
        sa.Column("city", sa.String(100), nullable=False),
        sa.Column("postal_code", sa.String(20)),
        sa.Column("country_code", sa.CHAR(2), sa.ForeignKey("countries.code"), nullable=False),
        sa.Index("ix_addresses_user", "user_id"),
    )
    currencies = sa.table("currencies", sa.column("code"), sa.column("name"), sa.column("minor_units"))
    op.bulk_insert(currencies, [
        {"code": "EUR", "name": "Euro", "minor_units": 2}, {"code": "USD", "name": "US Dollar", "minor_units": 2},
        {"code": "GBP", "name": "Pound Sterling", "minor_units": 2}, {"code": "JPY", "name": "Yen", "minor_units": 0},
        {"code": "CHF", "name": "Swiss Franc", "minor_units": 2}, {"code": "CAD", "name": "Canadian Dollar",
                                                                   "minor_units": 2},
    ])
    countries = sa.table("countries", sa.column("code"), sa.column("name"), sa.column("currency_code"))
    op.bulk_insert(countries, [{"code": c, "name": n, "currency_code": cur} for c, n, cur in COUNTRIES])


def downgrade() -> None:
    for table in ("addresses", "countries", "currencies"):
        op.drop_table(table)
