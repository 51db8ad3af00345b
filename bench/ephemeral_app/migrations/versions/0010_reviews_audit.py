"""reviews, wishlists, audit log, settings

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("rating", sa.SmallInteger, nullable=False),
        sa.Column("body", sa.Text),
        sa.UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating"),
    )
    op.create_table(
        "wishlist_items",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("added_at", sa.DateTime, server_default=sa.func.now()),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("actor_id", sa.BigInteger),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("entity", sa.String(60), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON),
        sa.Column("created_at", mysql.DATETIME(fsp=6), server_default=sa.text("CURRENT_TIMESTAMP(6)")),
        sa.Index("ix_audit_entity", "entity", "entity_id"),
    )
    op.create_table(
        "settings",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    settings = sa.table("settings", sa.column("name"), sa.column("value"))
    op.bulk_insert(settings, [{"name": "shop.name", "value": "Example Shop"},
                              {"name": "shop.default_currency", "value": "EUR"},
                              {"name": "helpdesk.sla_hours", "value": "24"}])


def downgrade() -> None:
    for table in ("settings", "audit_log", "wishlist_items", "reviews"):
        op.drop_table(table)
