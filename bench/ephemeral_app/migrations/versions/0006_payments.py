"""payments, refunds, coupons

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("provider", sa.String(30), nullable=False),
        sa.Column("provider_ref", sa.String(100), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
        sa.UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("payment_id", sa.BigInteger, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "coupons",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("percent_off", sa.Numeric(5, 2)),
        sa.Column("valid_until", sa.Date),
    )
    op.create_table(
        "coupon_redemptions",
        sa.Column("coupon_id", sa.Integer, sa.ForeignKey("coupons.id"), primary_key=True),
        sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("redeemed_at", sa.DateTime, server_default=sa.func.now()),
    )


def downgrade() -> None:
    for table in ("coupon_redemptions", "coupons", "refunds", "payments"):
        op.drop_table(table)
