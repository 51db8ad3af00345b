"""Test-suite support: throwaway servers (servers.py), the database janitor (databases.py),
migrated templates (templates.py), crash-safe cleanup (reaper.py) and the pytest plugin
(plugin.py, the ``pytest11`` entry point). Imports nothing: the plugin must stay cheap."""
