"""The .env writer: only the key changes, every other byte is kept, writes are atomic."""
import os
import stat

import pytest

from provision.envfile import write_key
from provision.errors import EnvFileError

URL = "mysql://ohdev:@127.0.0.1:3306/ohdevel?charset=utf8mb4"
KEY = "DATABASE_URL"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class TestWrite:
    def test_creates_file(self, tmp_path):
        env = tmp_path / ".env"
        assert write_key(env, KEY, URL, secret=False) == "created"
        assert env.read_text() == f"{KEY}={URL}\n"

    def test_new_file_with_password_is_0600(self, tmp_path):
        env = tmp_path / ".env"
        write_key(env, KEY, "mysql://ohdev:pw@127.0.0.1:3306/ohdevel", secret=True)
        assert mode(env) == 0o600

    def test_second_write_is_unchanged_and_untouched(self, tmp_path):
        env = tmp_path / ".env"
        write_key(env, KEY, URL, secret=False)
        before = os.stat(env)
        assert write_key(env, KEY, URL, secret=False) == "unchanged"
        assert os.stat(env).st_ino == before.st_ino and os.stat(env).st_mtime_ns == before.st_mtime_ns

    def test_keeps_every_other_byte(self, tmp_path):
        env = tmp_path / ".env"
        original = (
            "# app settings\r\n"
            "SECRET_KEY='abc def' # inline\r\n"
            "\n"
            "export DATABASE_URL=\"mysql://old:@localhost/old\"  # the db\r\n"
            "EMPTY=\n"
            "MULTI=\"line1\nline2\"\n"
            "LAST=no-newline"
        )
        env.write_bytes(original.encode())
        env.chmod(0o640)
        assert write_key(env, KEY, URL, secret=False) == "updated"
        expected = original.replace('"mysql://old:@localhost/old"', f'"{URL}"')
        assert env.read_bytes() == expected.encode()
        assert mode(env) == 0o640

    def test_appends_after_a_last_line_without_newline(self, tmp_path):
        env = tmp_path / ".env"
        env.write_text("A=1")
        write_key(env, KEY, URL, secret=False)
        assert env.read_text() == f"A=1\n{KEY}={URL}\n"

    def test_last_duplicate_wins_and_is_the_one_replaced(self, tmp_path):
        env = tmp_path / ".env"
        env.write_text(f"{KEY}=first\nX=1\n{KEY}=second\n")
        write_key(env, KEY, URL, secret=False)
        assert env.read_text() == f"{KEY}=first\nX=1\n{KEY}={URL}\n"

    def test_symlink_is_written_through(self, tmp_path):
        target = tmp_path / "real.env"
        target.write_text("A=1\n")
        link = tmp_path / ".env"
        link.symlink_to(target)
        write_key(link, KEY, URL, secret=False)
        assert link.is_symlink() and f"{KEY}={URL}" in target.read_text()


class TestRefusals:
    """Nothing is written, nothing is lost."""

    def test_directory(self, tmp_path):
        (tmp_path / ".env").mkdir()
        with pytest.raises(EnvFileError, match="is a directory"):
            write_key(tmp_path / ".env", KEY, URL, secret=False)

    def test_read_only(self, tmp_path):
        env = tmp_path / ".env"
        env.write_text("A=1\n")
        env.chmod(0o444)
        with pytest.raises(EnvFileError, match="read-only") as info:
            write_key(env, KEY, URL, secret=False)
        assert "chmod" in info.value.hint
        assert env.read_text() == "A=1\n"

    def test_not_utf8(self, tmp_path):
        env = tmp_path / ".env"
        env.write_bytes(b"A=\xff\xfe\n")
        with pytest.raises(EnvFileError, match="UTF-8"):
            write_key(env, KEY, URL, secret=False)
        assert env.read_bytes() == b"A=\xff\xfe\n"

    def test_no_temp_files_left(self, tmp_path):
        env = tmp_path / ".env"
        write_key(env, KEY, URL, secret=False)
        write_key(env, KEY, URL + "&x=1", secret=False)
        assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
