"""The `stepwise` command's database and catalogue subcommands."""


def test_db_upgrade_then_catalogue_sync_twice_changes_nothing_the_second_time(empty_database_url, cli):
    assert cli(empty_database_url, "db", "upgrade").returncode == 0
    first = cli(empty_database_url, "catalogue", "sync")
    assert first.returncode == 0 and "0 rows inserted" not in first.stdout
    second = cli(empty_database_url, "catalogue", "sync")
    assert second.returncode == 0
    assert "0 rows inserted, 0 updated, 0 deleted" in second.stdout
    down = cli(empty_database_url, "db", "downgrade")
    assert down.returncode == 0, down.stderr


def test_bad_database_url_is_refused_clearly(cli):
    result = cli("mysql://nope", "db", "upgrade")
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr
