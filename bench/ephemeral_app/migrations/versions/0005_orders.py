"""orders: carts, orders, order items

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
    )
    op.create_table(
        "cart_items",
        sa.Column("cart_id", sa.BigInteger, sa.ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("status", sa.Enum("new", "paid", "shipped", "cancelled", "refunded", name="order_status"),
                  nullable=False, server_default="new"),
        sa.Column("total_cents", sa.BigInteger, nullable=False),
        sa.Column("currency_code", sa.CHAR(3), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("shipping_address_id", sa.BigInteger, sa.ForeignKey("addresses.id")),
        sa.Column("placed_at", sa.DateTime, server_default=sa.func.now()),
        sa.Index("ix_orders_user_status", "user_id", "status"),
    )
    op.create_table(
        "order_items",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_cents", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("order_items", "orders", "cart_items", "carts"):
        op.drop_table(table)
