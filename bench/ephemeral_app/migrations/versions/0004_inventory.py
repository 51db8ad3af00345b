"""inventory: warehouses, stock, stock movements

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "warehouses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("country_code", sa.CHAR(2), sa.ForeignKey("countries.code"), nullable=False),
    )
    op.create_table(
        "stock",
        sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("warehouse_id", sa.Integer, sa.ForeignKey("warehouses.id"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("quantity >= 0", name="ck_stock_quantity"),
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("product_id", sa.BigInteger, nullable=False),
        sa.Column("warehouse_id", sa.Integer, nullable=False),
        sa.Column("delta", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["product_id", "warehouse_id"], ["stock.product_id", "stock.warehouse_id"]),
        sa.Index("ix_movements_created", "created_at"),
    )


def downgrade() -> None:
    for table in ("stock_movements", "stock", "warehouses"):
        op.drop_table(table)
