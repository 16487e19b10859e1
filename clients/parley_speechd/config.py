"""The module's configuration file (``modules/parley.conf``) and ``sd_parley --install-config``.

``parley.conf`` uses speech-dispatcher's dotconf syntax, ``Name value`` per line, ``#`` comments,
values optionally in double quotes:

    ParleyVoices        "heart"         # voices to load, comma-separated (each costs memory)
    ParleyDefaultVoice  "heart"         # used when speech-dispatcher asks for no particular voice
    ParleyCacheMB       64              # audio of short phrases kept, in MiB (0: no phrase cache)
    ParleyWarmCache     1               # when idle, pre-render characters and key names (0: don't)
    ParleyThreads       1               # ONNX threads per session
    ParleyAudioDevice   ""              # a PortAudio device name or index ("" = the default)
    ParleyTestOutput    ""              # a directory: no sound card, write WAVs + events.jsonl
    ParleyLogFile       ""              # log file ("" = stderr, which speech-dispatcher logs)

Unknown names are ignored with a warning (a newer parley.conf must not stop an older module).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

__all__ = ["ModuleConfig", "install_config", "read_config", "user_config_dir"]

log = logging.getLogger("parley.speechd")

BEGIN_MARK = "# >>> parley speech-dispatcher module (sd_parley --install-config) >>>"
END_MARK = "# <<< parley speech-dispatcher module <<<"
SYSTEM_CONFIG_DIR = Path("/etc/speech-dispatcher")
SYSTEM_MODULE_DIRS = (
    Path("/usr/lib/speech-dispatcher-modules"),
    Path("/usr/libexec/speech-dispatcher-modules"),
)


@dataclass(frozen=True)
class ModuleConfig:
    voices: tuple[str, ...] = ("heart",)
    default_voice: str | None = None
    cache_mb: float = 64.0
    warm_cache: bool = True
    threads: int = 1
    audio_device: str | int | None = None
    test_output: Path | None = None
    log_file: Path | None = None

    def with_overrides(
        self,
        *,
        test_output: Path | None = None,
        voices: tuple[str, ...] | None = None,
        default_voice: str | None = None,
        cache_mb: float | None = None,
        warm_cache: bool | None = None,
        log_file: Path | None = None,
    ) -> ModuleConfig:
        c = self
        if test_output is not None:
            c = replace(c, test_output=test_output)
        if voices:
            c = replace(c, voices=voices)
        if default_voice:
            c = replace(c, default_voice=default_voice)
        if cache_mb is not None:
            c = replace(c, cache_mb=cache_mb)
        if warm_cache is not None:
            c = replace(c, warm_cache=warm_cache)
        if log_file is not None:
            c = replace(c, log_file=log_file)
        return c


def parse_config(text: str) -> ModuleConfig:
    """A :class:`ModuleConfig` from parley.conf text (never raises for content: bad lines are logged)."""
    c = ModuleConfig()
    if os.environ.get("PARLEY_SD_TEST_OUTPUT"):
        c = replace(c, test_output=Path(os.environ["PARLEY_SD_TEST_OUTPUT"]))
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            log.warning("parley.conf line %d: cannot parse %r", n, raw)
            continue
        if not words:
            continue
        name, values = words[0].lower(), words[1:]
        value = " ".join(values)
        try:
            if name == "parleyvoices":
                vs = tuple(v.strip() for v in value.split(",") if v.strip())
                if vs:
                    c = replace(c, voices=vs)
            elif name == "parleydefaultvoice":
                c = replace(c, default_voice=value or None)
            elif name == "parleywarmcache":
                c = replace(c, warm_cache=value.strip().lower() not in ("0", "no", "off", "false"))
            elif name == "parleycachemb":
                c = replace(c, cache_mb=max(0.0, float(value)))
            elif name == "parleythreads":
                c = replace(c, threads=max(1, int(value)))
            elif name == "parleyaudiodevice":
                c = replace(c, audio_device=(int(value) if value.isdigit() else value) if value else None)
            elif name == "parleytestoutput":
                c = replace(c, test_output=Path(value) if value else c.test_output)
            elif name == "parleylogfile":
                c = replace(c, log_file=Path(value) if value else None)
            else:
                log.warning("parley.conf line %d: unknown setting %s (ignored)", n, words[0])
        except ValueError:
            log.warning("parley.conf line %d: bad value %r for %s (ignored)", n, value, words[0])
    return c


def read_config(path: Path | None) -> ModuleConfig:
    if path is None:
        return parse_config("")
    try:
        return parse_config(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        log.warning("cannot read %s (%s); using defaults", path, exc)
        return parse_config("")


# -- install -----------------------------------------------------------------------------------------


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "speech-dispatcher"


def _detected_modules() -> list[tuple[str, str, str]]:
    """(name, binary, config) of the system's modules, as speech-dispatcher's own autodetection
    would load them: any AddModule line turns autodetection off, so we must list them."""
    out: list[tuple[str, str, str]] = []
    for d in SYSTEM_MODULE_DIRS:
        if not d.is_dir():
            continue
        for exe in sorted(d.iterdir()):
            name = exe.name
            if (
                not name.startswith("sd_")
                or name in ("sd_generic", "sd_parley")
                or not os.access(exe, os.X_OK)
            ):
                continue
            mod = name[3:]
            conf = f"{mod}.conf" if (SYSTEM_CONFIG_DIR / "modules" / f"{mod}.conf").exists() else ""
            out.append((mod, name, conf))
        break
    return out


def module_block(module_path: str, conf_path: Path, make_default: bool, existing: str) -> str:
    """The lines install_config adds to speechd.conf (between BEGIN_MARK and END_MARK)."""
    lines = [
        BEGIN_MARK,
        "# Parley, a neural speech engine, as a speech-dispatcher output module. Remove this block",
        "# (or run `sd_parley --install-config` again) to change it.",
        f'AddModule "parley" "{module_path}" "{conf_path}"',
    ]
    active = {
        ln.split()[1].strip('"')
        for ln in existing.splitlines()
        if ln.strip().lower().startswith("addmodule") and len(ln.split()) > 1
    }
    detected = [m for m in _detected_modules() if m[0] not in active]
    if detected:
        lines.append("# An AddModule line turns speech-dispatcher's module autodetection off: the")
        lines.append("# modules it would have found are listed here so they stay available.")
        for name, binary, conf in detected:
            lines.append(f'AddModule "{name}" "{binary}" "{conf}"')
    if make_default:
        lines.append("DefaultModule parley")
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


def install_config(
    *,
    module_path: str,
    voices: tuple[str, ...] | None = None,
    make_default: bool = False,
    config_dir: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Write the user's speech-dispatcher configuration for Parley. Idempotent. Returns 0."""
    cdir = config_dir or user_config_dir()
    speechd_conf = cdir / "speechd.conf"
    modules_dir = cdir / "modules"
    modules_dir.mkdir(parents=True, exist_ok=True)
    if not speechd_conf.exists():
        # like `spd-conf -u`: start from the system's configuration
        if (SYSTEM_CONFIG_DIR / "speechd.conf").exists():
            shutil.copyfile(SYSTEM_CONFIG_DIR / "speechd.conf", speechd_conf)
            for sub in ("clients", "modules"):
                src = SYSTEM_CONFIG_DIR / sub
                if src.is_dir():
                    shutil.copytree(src, cdir / sub, dirs_exist_ok=True)
        else:
            speechd_conf.write_text("# speech-dispatcher configuration\n", encoding="utf-8")
    conf_path = modules_dir / "parley.conf"
    conf_lines = [
        "# Parley output module for speech-dispatcher (written by sd_parley --install-config)",
        f'ParleyVoices "{",".join(voices or ("heart",))}"',
        "ParleyCacheMB 64",
        "ParleyThreads 1",
        '# ParleyAudioDevice ""',
        '# ParleyTestOutput "/tmp/parley-sd"   # no sound card: WAV files and an event log instead',
    ]
    conf_path.write_text("\n".join(conf_lines) + "\n", encoding="utf-8")
    text = speechd_conf.read_text(encoding="utf-8", errors="replace")
    text = _without_block(text)
    if make_default:  # our DefaultModule must be the only active one
        text = (
            "\n".join(
                ("# " + ln if ln.strip().lower().startswith("defaultmodule") else ln)
                for ln in text.splitlines()
            )
            + "\n"
        )
    if not text.endswith("\n"):
        text += "\n"
    text += "\n" + module_block(module_path, conf_path, make_default, text)
    speechd_conf.write_text(text, encoding="utf-8")
    if out is not None:
        print(f"wrote {speechd_conf} (AddModule parley) and {conf_path}", file=out)
        print(
            "restart speech-dispatcher to load it: `killall speech-dispatcher` (it restarts on demand),",
            file=out,
        )
        print('then try: spd-say -o parley "Hello from Parley"', file=out)
    return 0


def _without_block(text: str) -> str:
    out: list[str] = []
    inside = False
    for ln in text.splitlines():
        if ln.strip() == BEGIN_MARK:
            inside = True
            continue
        if ln.strip() == END_MARK:
            inside = False
            continue
        if not inside:
            out.append(ln)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n" if out else ""
