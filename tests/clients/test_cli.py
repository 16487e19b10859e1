"""The ``parley`` CLI: say / voices against a running server, and its one-line failures."""

from __future__ import annotations

import io
import socket
import sys

import numpy as np
import pytest
import soundfile as sf
from parley_clients import cli
from server_thread import ServerThread

TOTAL_3 = 1200 + 2 * 4800


def test_say_writes_wav(
    tone_server: ServerThread, tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    out = f"{tmp_path}/hello.wav"
    assert cli.main(["say", "Hello there.", "--url", tone_server.url, "--out", out]) == 0
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and audio.shape == (TOTAL_3,)
    assert 0.4 < np.max(np.abs(audio)) <= 0.5 + 1e-3
    assert sf.info(out).subtype == "PCM_16"
    err = capsys.readouterr().err
    assert "0.45 s of audio at 24000 Hz" in err and "first audio after" in err


def test_say_reads_stdin_and_writes_stdout(
    tone_server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("chunks:1"))
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw)
    args = cli.build_parser().parse_args(["say", "--url", tone_server.url, "--out", "-", "-q"])
    assert cli.cmd_say(args, stdin=sys.stdin, stdout=stdout) == 0
    audio, sr = sf.read(io.BytesIO(raw.getvalue()))
    assert sr == 24000 and audio.shape == (1200,)


def test_say_needs_an_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["say", "hi"]) == cli.EXIT_USAGE
    assert "nothing to do" in capsys.readouterr().err


def test_say_without_text_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    assert cli.main(["say", "--out", "x.wav"]) == cli.EXIT_USAGE
    assert "no text" in capsys.readouterr().err


def test_server_unreachable_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = cli.main(["say", "hi", "--url", f"ws://127.0.0.1:{port}", "--out", f"{tmp_path}/x.wav"])
    assert status == cli.EXIT_CONNECT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "parley serve" in err


def test_server_refusal_is_one_line(
    tone_server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    out = f"{tmp_path}/x.wav"
    status = cli.main(["say", "hi", "--voice", "nobody", "--url", tone_server.url, "--out", out])
    assert status == cli.EXIT_REQUEST
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown_voice" in err and "Traceback" not in err


def test_play_without_portaudio_is_one_line(
    tone_server: ServerThread, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails, as without PortAudio
    assert cli.main(["say", "hi", "--url", tone_server.url, "--play"]) == cli.EXIT_AUDIO
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot play audio" in err and "Traceback" not in err


def test_play_streams_into_the_player(tone_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[np.ndarray] = []
    rates: list[int] = []

    class FakePlayer:
        def write(self, samples: np.ndarray) -> None:
            written.append(samples)

        def close(self) -> None:
            written.append(np.zeros(0, np.float32))

    def factory(sr: int) -> FakePlayer:
        rates.append(sr)
        return FakePlayer()

    monkeypatch.setattr(cli, "open_player_factory", lambda: factory)
    assert cli.main(["say", "hello", "--url", tone_server.url, "--play", "-q"]) == 0
    assert rates == [24000]
    assert sum(len(w) for w in written) == TOTAL_3 and len(written[-1]) == 0  # closed last


def test_voices_table(tone_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["voices", "--url", tone_server.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "LANGUAGE", "GENDER", "RATE_HZ", "BACKEND", "DESCRIPTION"]
    assert out[1].split()[:6] == ["heart", "*", "en-US", "female", "24000", "test"]
    assert out[-1] == "(* = default voice)"


def test_voices_json(tone_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert cli.main(["voices", "--url", tone_server.url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["default_voice"] == "heart" and data["voices"][0]["id"] == "heart"


def test_serve_rejects_bad_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--threads", "0"]) == cli.EXIT_USAGE
    assert "worker_threads" in capsys.readouterr().err


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("serve", "say", "voices"))


@pytest.mark.integration
def test_say_local_with_the_real_engine(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    out = f"{tmp_path}/local.wav"
    assert cli.main(["say", "Spoken without a server.", "--local", "--voice", "heart", "--out", out]) == 0
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and 0.8 < audio.size / sr < 5.0
    assert np.all(np.isfinite(audio)) and float(np.sqrt(np.mean(audio**2))) > 0.01
    assert "s of audio at 24000 Hz" in capsys.readouterr().err


@pytest.mark.integration
def test_say_local_refusal_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert cli.main(["say", "hi", "--local", "--voice", "nobody", "--out", f"{tmp_path}/x.wav"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown_voice" in err
