"""helpdesk: tickets, comments, tags

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("requester_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("assignee_id", sa.BigInteger, sa.ForeignKey("users.id")),
        sa.Column("order_id", sa.BigInteger, sa.ForeignKey("orders.id")),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
        sa.Column("priority", sa.SmallInteger, nullable=False, server_default="3"),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
        sa.Index("ix_tickets_status_priority", "status", "priority"),
    )
    op.create_table(
        "ticket_comments",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("ticket_id", sa.BigInteger, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("internal", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now()),
    )
    op.create_table(
        "ticket_tags",
        sa.Column("ticket_id", sa.BigInteger, sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("comment_id", sa.BigInteger, sa.ForeignKey("ticket_comments.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("ticket_attachments", "ticket_tags", "ticket_comments", "tickets"):
        op.drop_table(table)
