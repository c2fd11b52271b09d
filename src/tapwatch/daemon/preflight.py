"""What `tapwatch run` checks before it starts, beyond the config's own validation, shared
with `tapwatch check-config` so that a config check-config passes is one run accepts:

* the pseudonymisation key file exists, is private (tapwatch.private_files) and holds a
  key of at least 16 bytes;
* the users file and the web config (with its TLS certificate, key and client CA) load.

These are files the daemon reads once at start (the key) or whose first version must be
good (users, web config); reloading the config does not re-check them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tapwatch.config import Config, ConfigError
from tapwatch.daemon.auth import load_users_file
from tapwatch.daemon.webconfig import load_web_config
from tapwatch.pseudonym import load_key


def with_web_config(cfg: Config, web_config_file: Path | None) -> Config:
    """The config with `--web.config.file` in place of `server.web_config_file`."""
    if web_config_file is None:
        return cfg
    server = cfg.daemon.server.model_copy(update={"web_config_file": web_config_file})
    return replace(cfg, daemon=cfg.daemon.model_copy(update={"server": server}))


def startup_problems(cfg: Config, web_config_flag: Path | None = None) -> list[str]:
    """Every reason the daemon would refuse to start with `cfg` and `--web.config.file`
    (`web_config_flag`), each naming the file and the key (empty if none)."""
    errors: list[str] = []
    cfg = with_web_config(cfg, web_config_flag)
    d = cfg.daemon
    key_file = d.pseudonymisation.key_file
    try:
        load_key(key_file)
    except ValueError as e:
        hint = f" (create one with `tapwatch gen-key {key_file}`)" if not key_file.exists() else ""
        errors.append(f"{cfg.path}: pseudonymisation.key_file: {e}{hint}")
    web_key = f"{cfg.path}: server.web_config_file"
    for key, path, load in (
        (f"{cfg.path}: server.users_file", d.server.users_file, load_users_file),
        ("--web.config.file" if web_config_flag else web_key, d.server.web_config_file,
         load_web_config),
    ):
        if path is None:
            continue
        if not path.is_file():
            errors.append(f"{key}: file {str(path)!r} does not exist")
            continue
        try:
            load(path)
        except ConfigError as e:
            errors += e.errors
    return errors
