"""User settings forgive broken files and survive a round trip."""

from __future__ import annotations

import json

from app.user_settings import MAX_RECENT, UserSettings, load_settings, save_settings


def test_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    project = tmp_path / "a.pn2v"
    project.write_bytes(b"")
    settings = UserSettings(device="cpu")
    settings.add_recent(project)
    settings.remember_folder("training", tmp_path)
    save_settings(settings, path)
    loaded = load_settings(path)
    assert loaded.device == "cpu"
    assert loaded.existing_recent() == [project.resolve()]
    assert loaded.last_folder("training") == str(tmp_path)


def test_broken_and_unknown_entries_fall_back_per_field(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps({"device": 5, "recent_projects": ["x"], "future_option": True, "version": 9})
    )
    loaded = load_settings(path)
    assert loaded.device == "auto"
    assert loaded.recent_projects == ["x"]
    assert loaded.version == 9


def test_unreadable_file_gives_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert load_settings(path) == UserSettings()
    path.write_text("[1, 2]")
    assert load_settings(path) == UserSettings()


def test_recent_projects_are_unique_newest_first_and_capped(tmp_path):
    settings = UserSettings()
    for i in range(MAX_RECENT + 3):
        settings.add_recent(tmp_path / f"{i}.pn2v")
    settings.add_recent(tmp_path / "5.pn2v")
    assert len(settings.recent_projects) == MAX_RECENT
    assert settings.recent_projects[0].endswith("5.pn2v")
    assert len(set(settings.recent_projects)) == MAX_RECENT


def test_missing_folders_fall_back_to_home(tmp_path):
    settings = UserSettings(last_folders={"training": str(tmp_path / "gone")})
    assert settings.last_folder("training") != str(tmp_path / "gone")


def test_save_failure_is_logged_not_raised(tmp_path):
    save_settings(UserSettings(), tmp_path / "missing" / "settings.json")
