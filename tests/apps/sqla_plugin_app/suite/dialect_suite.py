"""Tests of SQLAlchemy's own dialect suite that create tables in test_schema and look them up there."""
from sqlalchemy.testing.suite import HasTableTest, TableDDLTest  # noqa: F401
