"""reporting: a view, a trigger keeping price history, loyalty points

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "loyalty_points",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("points", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tier", sa.String(10), sa.Computed("CASE WHEN points >= 1000 THEN 'gold' ELSE 'basic' END")),
    )
    op.execute("""
        CREATE VIEW order_totals AS
        SELECT o.user_id, o.currency_code, COUNT(*) AS orders, SUM(o.total_cents) AS total_cents
          FROM orders o WHERE o.status IN ('paid', 'shipped') GROUP BY o.user_id, o.currency_code
    """)
    op.execute("""
        CREATE TRIGGER trg_products_price AFTER UPDATE ON products FOR EACH ROW
        BEGIN
            IF NEW.price_cents <> OLD.price_cents THEN
                INSERT INTO price_history (product_id, price_cents) VALUES (NEW.id, NEW.price_cents);
            END IF;
        END
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_products_price")
    op.execute("DROP VIEW order_totals")
    op.drop_table("loyalty_points")
