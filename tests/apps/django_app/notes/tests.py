"""Tests the app's own runner runs; with --parallel 2 the classes go to two cloned databases."""
from django.db import connection
from django.test import TestCase, TransactionTestCase

from .models import Note


class NoteTests(TestCase):
    def test_create_and_read_utf8mb4(self):
        Note.objects.create(title="h\u00e9llo \U0001f600")
        self.assertEqual(Note.objects.get().title, "h\u00e9llo \U0001f600")

    def test_runs_on_a_test_database(self):
        self.assertTrue(connection.settings_dict["NAME"].startswith("test_"))
        self.assertEqual(Note.objects.count(), 0)


class NoteTransactionTests(TransactionTestCase):
    def test_commits_are_visible(self):
        Note.objects.create(title="one")
        Note.objects.create(title="two")
        self.assertEqual(Note.objects.count(), 2)


class DatabaseNameTests(TestCase):
    def test_report_the_database(self):
        # the runner's output names the database each worker used (checked by provision's tests)
        with connection.cursor() as cursor:
            cursor.execute("SELECT DATABASE()")
            print(f"\nDATABASE={cursor.fetchone()[0]}")
