"""later changes: phone numbers, soft deletes, a rename, more indexes

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("users", sa.Column("phone", sa.String(30)))
    op.add_column("users", sa.Column("deleted_at", sa.DateTime))
    op.add_column("products", sa.Column("deleted_at", sa.DateTime))
    op.add_column("orders", sa.Column("notes", sa.Text))
    op.alter_column("products", "name", existing_type=sa.String(200), type_=sa.String(255), existing_nullable=False)
    op.create_index("ix_users_deleted", "users", ["deleted_at"])
    op.create_index("ix_products_name", "products", ["name"])
    op.rename_table("wishlist_items", "saved_items")
    op.create_table(
        "price_history",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("product_id", sa.BigInteger, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("valid_from", sa.DateTime, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("price_history")
    op.rename_table("saved_items", "wishlist_items")
    op.drop_index("ix_products_name", "products")
    op.drop_index("ix_users_deleted", "users")
    op.alter_column("products", "name", existing_type=sa.String(255), type_=sa.String(200), existing_nullable=False)
    op.drop_column("orders", "notes")
    op.drop_column("products", "deleted_at")
    op.drop_column("users", "deleted_at")
    op.drop_column("users", "phone")
