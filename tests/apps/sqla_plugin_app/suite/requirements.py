from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements


class Requirements(SuiteRequirements):
    @property
    def schemas(self):
        # the tests that use test_schema / test_schema_2, the databases provision grants
        return exclusions.open()
