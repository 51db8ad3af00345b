"""shipping: carriers, shipments, shipment items

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "carriers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(60), nullable=False, unique=True),
        sa.Column("tracking_url", sa.String(300)),
    )
    op.create_table(
        "shipments",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("carrier_id", sa.Integer, sa.ForeignKey("carriers.id")),
        sa.Column("warehouse_id", sa.Integer, sa.ForeignKey("warehouses.id")),
        sa.Column("tracking_number", sa.String(60)),
        sa.Column("shipped_at", sa.DateTime),
    )
    op.create_table(
        "shipment_items",
        sa.Column("shipment_id", sa.BigInteger, sa.ForeignKey("shipments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("order_item_id", sa.BigInteger, sa.ForeignKey("order_items.id"), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
    )
    carriers = sa.table("carriers", sa.column("id"), sa.column("name"), sa.column("tracking_url"))
    op.bulk_insert(carriers, [{"id": 1, "name": "DHL", "tracking_url": "https://dhl.example/{n}"},
                              {"id": 2, "name": "UPS", "tracking_url": "https://ups.example/{n}"},
                              {"id": 3, "name": "La Poste", "tracking_url": None}])


def downgrade() -> None:
    for table in ("shipment_items", "shipments", "carriers"):
        op.drop_table(table)
