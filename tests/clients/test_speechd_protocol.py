"""The speech-dispatcher module protocol machine (pure): replies, events, errors, and a fuzz."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parley_speechd.message import Mark, Pause, Ssml, Text, Tone, VoiceEntry
from parley_speechd.protocol import (
    MAX_COMMAND_BYTES,
    ConfigureAudio,
    Initialize,
    JobState,
    ModuleProtocol,
    ModuleState,
    Quit,
    SetDebug,
    SetLogLevel,
    Speak,
    Stop,
)

VOICES = [VoiceEntry("heart", "en-US", "none", "female"), VoiceEntry("joe", "en-US", "none", "male")]


def lines(m: ModuleProtocol) -> list[str]:
    return m.data_to_send().decode().splitlines()


def ready() -> ModuleProtocol:
    m = ModuleProtocol()
    assert m.receive_data(b"INIT\n") == [Initialize()]
    assert m.state is ModuleState.INITIALIZING
    assert m.init_done(True, "Parley ready", VOICES) == []
    assert lines(m) == ["299-Parley ready", "299 OK LOADED SUCCESSFULLY"]
    return m


def speak(m: ModuleProtocol, body: str, command: str = "SPEAK") -> Speak:
    actions = m.receive_data(f"{command}\n{body}\n.\n".encode())
    assert lines(m) == ["202 OK RECEIVING MESSAGE", "200 OK SPEAKING"]
    assert len(actions) == 1 and isinstance(actions[0], Speak)
    return actions[0]


# -- INIT ----------------------------------------------------------------------------------------------


def test_commands_before_init_are_refused_and_init_failure_quits() -> None:
    m = ModuleProtocol()
    assert m.receive_data(b"SPEAK\nLIST VOICES\n") == []
    assert [ln[:3] for ln in lines(m)] == ["300", "300"]
    assert m.receive_data(b"INIT\n") == [Initialize()]
    assert m.init_done(False, "no engine\nsecond line") == [Quit()]
    assert lines(m) == ["399-no engine", "399-second line", "399 ERR CANT INIT MODULE"]
    assert m.state is ModuleState.CLOSED
    assert m.receive_data(b"SPEAK\n") == [] and lines(m) == []


def test_lines_sent_while_loading_are_answered_after_init() -> None:
    m = ModuleProtocol()
    assert m.receive_data(b"INIT\nLIST VOICES\n") == [Initialize()]
    assert lines(m) == []
    m.init_done(True, "ok", VOICES)
    assert lines(m) == [
        "299-ok",
        "299 OK LOADED SUCCESSFULLY",
        "200-heart\ten-US\tnone",
        "200-joe\ten-US\tnone",
        "200 OK VOICE LIST SENT",
    ]


def test_quit_before_and_after_init() -> None:
    m = ModuleProtocol()
    assert m.receive_data(b"QUIT\n") == [Quit()]
    assert lines(m) == ["210 OK QUIT"]
    m = ready()
    job = speak(m, "<speak>Hi</speak>").job.job
    assert m.receive_data(b"QUIT\nSPEAK\n") == [Stop(job), Quit()]
    assert lines(m) == ["210 OK QUIT"]


# -- SPEAK and events ------------------------------------------------------------------------------


def test_speak_events_in_order() -> None:
    m = ready()
    body = '<speak>Hello world.<mark name="__spd_0"/> This is a test.</speak>'
    a = speak(m, body)
    assert a.job.segments == (Ssml(body),)  # the engine's stream_ssml reads it
    j = a.job.job
    assert m.job_state is JobState.SPEAKING
    m.playback_started(j)
    m.playback_started(j)  # once only
    assert m.mark_reached(j, "__spd_0") == []
    m.playback_ended(j)
    assert lines(m) == ["701 BEGIN", "700-__spd_0", "700 INDEX MARK", "702 END"]
    assert m.current_job is None
    m.playback_ended(j)  # stale: nothing
    assert lines(m) == []


def test_speak_while_speaking_is_refused_and_stale_reports_are_ignored() -> None:
    m = ready()
    j = speak(m, "<speak>one</speak>").job.job
    assert m.receive_data(b"SPEAK\n<speak>two</speak>\n.\n") == []
    assert lines(m) == ["202 OK RECEIVING MESSAGE", "301 ERROR CANT SPEAK"]
    m.playback_ended(j)
    assert lines(m) == ["701 BEGIN", "702 END"]
    j2 = speak(m, "<speak>three</speak>").job.job
    assert j2 > j
    m.mark_reached(j, "late")
    m.playback_stopped(j)
    assert lines(m) == []


def test_end_without_audio_still_reports_begin() -> None:
    m = ready()
    j = speak(m, "<speak>...</speak>").job.job
    m.playback_ended(j)
    assert lines(m) == ["701 BEGIN", "702 END"]


def test_empty_message_and_dot_escaping() -> None:
    m = ready()
    assert m.receive_data(b"SPEAK\n.\n") == []
    assert lines(m) == ["202 OK RECEIVING MESSAGE", "301 ERROR CANT SPEAK"]
    a = speak(m, "..", command="CHAR")  # speech-dispatcher escapes a leading dot
    assert a.job.kind == "char" and a.job.segments == (Text("dot"),)


def test_multiline_char_is_refused_but_multiline_text_is_spoken() -> None:
    m = ready()
    assert m.receive_data(b"KEY\na\nb\n.\n") == []
    assert lines(m) == ["202 OK RECEIVING MESSAGE", "305 DATA MORE THAN ONE LINE"]
    a = speak(m, "<speak>line one\nline two</speak>")
    assert a.job.segments == (Ssml("<speak>line one\nline two</speak>"),)


def test_char_key_sound_icon_and_space() -> None:
    m = ready()
    a = speak(m, "space", command="CHAR")
    assert a.job.segments == (Text("space"),)
    m.playback_ended(a.job.job)
    lines(m)
    a = speak(m, "shift_a", command="KEY")
    assert a.job.segments == (Text("shift eh"),)
    m.playback_ended(a.job.job)
    lines(m)
    a = speak(m, "message", command="SOUND_ICON")
    assert len(a.job.segments) == 1 and isinstance(a.job.segments[0], Tone)


def test_crlf_and_invalid_utf8_are_tolerated() -> None:
    m = ready()
    actions = m.receive_data(b"SPEAK\r\n<speak>caf\xff</speak>\r\n.\r\n")
    assert lines(m) == ["202 OK RECEIVING MESSAGE", "200 OK SPEAKING"]
    assert isinstance(actions[0], Speak) and actions[0].job.segments == (Ssml("<speak>caf\ufffd</speak>"),)


def test_data_split_across_reads() -> None:
    m = ready()
    data = b'SPEAK\n<speak>Hi <mark name="x"/>there</speak>\n.\n'
    actions = []
    for i in range(len(data)):
        actions += m.receive_data(data[i : i + 1])
    assert len(actions) == 1 and isinstance(actions[0], Speak)
    assert actions[0].job.segments == (Ssml('<speak>Hi <mark name="x"/>there</speak>'),)


# -- STOP / PAUSE ----------------------------------------------------------------------------------


def test_stop_when_idle_says_nothing() -> None:
    m = ready()
    assert m.receive_data(b"STOP\nPAUSE\nSTOP\n") == []
    assert lines(m) == []


def test_stop_while_speaking() -> None:
    m = ready()
    j = speak(m, "<speak>long text</speak>").job.job
    m.playback_started(j)
    assert m.receive_data(b"STOP\n") == [Stop(j)]
    assert m.job_state is JobState.STOPPING
    assert m.receive_data(b"STOP\n") == []  # already stopping
    m.mark_reached(j, "late")  # no marks once stopping
    m.playback_stopped(j)
    assert lines(m) == ["701 BEGIN", "703 STOP"]
    assert m.current_job is None


def test_stop_racing_the_end_sends_one_terminal_event() -> None:
    m = ready()
    j = speak(m, "<speak>x</speak>").job.job
    assert m.receive_data(b"STOP\n") == [Stop(j)]
    m.playback_ended(j)  # the audio ended before the stop was carried out
    m.playback_stopped(j)
    assert lines(m) == ["701 BEGIN", "703 STOP"]


def test_stop_before_any_audio_reports_begin_then_stop() -> None:
    m = ready()
    j = speak(m, "<speak>x</speak>").job.job
    m.receive_data(b"STOP\n")
    m.playback_stopped(j)
    assert lines(m) == ["701 BEGIN", "703 STOP"]


def test_pause_stops_at_the_next_spd_mark() -> None:
    m = ready()
    j = speak(m, '<speak>One.<mark name="user"/> Two.<mark name="__spd_1"/> Three.</speak>').job.job
    m.playback_started(j)
    assert m.receive_data(b"PAUSE\n") == []
    assert m.mark_reached(j, "user") == []  # not a pause point
    assert m.mark_reached(j, "__spd_1") == [Stop(j, pause=True)]
    m.playback_stopped(j)
    assert lines(m) == [
        "701 BEGIN",
        "700-user",
        "700 INDEX MARK",
        "700-__spd_1",
        "700 INDEX MARK",
        "704 PAUSE",
    ]


def test_pause_without_a_mark_ends_normally_and_resume_is_unknown() -> None:
    m = ready()
    j = speak(m, "<speak>One.</speak>").job.job
    m.receive_data(b"PAUSE\n")
    m.playback_ended(j)
    assert lines(m) == ["701 BEGIN", "702 END"]
    m.receive_data(b"RESUME\n")
    assert lines(m) == ["300 ERR UNKNOWN COMMAND"]


def test_pause_then_stop_reports_stop() -> None:
    m = ready()
    j = speak(m, "<speak>One.</speak>").job.job
    m.receive_data(b"PAUSE\nSTOP\n")
    m.playback_stopped(j)
    assert lines(m)[-1] == "703 STOP"


# -- SET / AUDIO / LOGLEVEL / DEBUG ----------------------------------------------------------------


def test_set_all_keys_as_speech_dispatcher_sends_them() -> None:
    m = ready()
    body = (
        "pitch=-50\npitch_range=0\nrate=100\nvolume=-100\npunctuation_mode=most\nspelling_mode=on\n"
        "cap_let_recogn=spell\nvoice=male1\nlanguage=en\nsynthesis_voice=NULL\n"
    )
    assert m.receive_data(b"SET\n" + body.encode() + b".\n") == []
    assert lines(m) == ["207 OK RECEIVING SETTINGS", "203 OK SETTINGS RECEIVED"]
    s = m.settings
    assert (s.rate, s.pitch, s.volume, s.punctuation_mode, s.spelling_mode) == (100, -50, -100, "most", True)
    assert (s.cap_let_recogn, s.voice_type, s.language, s.synthesis_voice) == ("spell", "male1", "en", None)
    a = speak(m, "<speak>Ab</speak>")
    assert a.job.voice == "joe"  # male1 picks the male voice
    assert a.job.speed == pytest.approx(4.0)
    assert a.job.pitch_semitones == pytest.approx(-6.0)
    assert a.job.volume_db == pytest.approx(-40.0)
    assert a.job.segments == (Text("capital eh b"),)  # spelled, capital announced
    assert (a.job.punctuation, a.job.capitals) == ("most", "spell")


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("rate=101", "303"),
        ("rate=fast", "303"),
        ("rate=", "302"),
        ("punctuation_mode=loud", "303"),
        ("spelling_mode=maybe", "303"),
        ("cap_let_recogn=yes", "303"),
        ("voice=robot", "303"),
        ("no equals sign", "302"),
        ("=5", "302"),
    ],
)
def test_set_bad_values(line: str, reply: str) -> None:
    m = ready()
    m.receive_data(f"SET\nrate=10\n{line}\n.\n".encode())
    assert lines(m) == ["207 OK RECEIVING SETTINGS", f"{reply} " + lines_reply(reply)]
    assert m.settings.rate == 10  # the good line still applied, as module_set does


def lines_reply(code: str) -> str:
    return {"302": "ERROR BAD SYNTAX", "303": "ERROR INVALID PARAMETER OR VALUE"}[code]


def test_set_unknown_key_is_ignored_for_forward_compatibility() -> None:
    m = ready()
    m.receive_data(b"SET\nsome_future_setting=3\n.\n")
    assert lines(m) == ["207 OK RECEIVING SETTINGS", "203 OK SETTINGS RECEIVED"]


def test_synthesis_voice_and_language_pick_the_voice() -> None:
    m = ready()
    m.receive_data(b"SET\nsynthesis_voice=joe\n.\n")
    lines(m)
    assert speak(m, "<speak>x</speak>").job.voice == "joe"


def test_audio_refuses_server_output_then_accepts_the_real_method() -> None:
    m = ready()
    assert m.receive_data(b"AUDIO\naudio_output_method=server\n.\n") == []
    out = lines(m)
    assert out[0] == "207 OK RECEIVING AUDIO SETTINGS" and out[-1] == "300 MODULE ERROR"
    actions = m.receive_data(b"AUDIO\naudio_output_method=alsa\naudio_alsa_device=default\n.\n")
    assert actions == [ConfigureAudio((("audio_output_method", "alsa"), ("audio_alsa_device", "default")))]
    assert lines(m) == ["207 OK RECEIVING AUDIO SETTINGS", "203 OK AUDIO INITIALIZED"]


def test_loglevel_and_debug() -> None:
    m = ready()
    assert m.receive_data(b"LOGLEVEL\nlog_level=5\n.\n") == [SetLogLevel(5)]
    assert lines(m) == ["207 OK RECEIVING LOGLEVEL SETTINGS", "203 OK LOGLEVEL SET"]
    m.receive_data(b"LOGLEVEL\nlog_level=x\n.\n")
    assert lines(m)[-1].startswith("303")
    assert m.receive_data(b"DEBUG ON /tmp/x.log \n") == [SetDebug("/tmp/x.log")]
    assert m.receive_data(b"DEBUG OFF \n") == [SetDebug(None)]
    m.receive_data(b"DEBUG\nDEBUG MAYBE\n")
    assert lines(m) == [
        "200 OK DEBUGGING ON",
        "200 OK DEBUGGING OFF",
        "302 ERROR BAD SYNTAX",
        "302 ERROR BAD SYNTAX",
    ]


def test_list_voices_and_unknown_command() -> None:
    m = ready()
    m.receive_data(b"LIST VOICES\nHELLO\nspeak\n")
    assert lines(m) == [
        "200-heart\ten-US\tnone",
        "200-joe\ten-US\tnone",
        "200 OK VOICE LIST SENT",
        "300 ERR UNKNOWN COMMAND",
        "300 ERR UNKNOWN COMMAND",
    ]


# -- limits ----------------------------------------------------------------------------------------


def test_enormous_message_is_read_to_its_end_and_refused() -> None:
    m = ModuleProtocol(max_message_bytes=1000)
    m.receive_data(b"INIT\n")
    m.init_done(True, "ok", VOICES)
    lines(m)
    m.receive_data(b"SPEAK\n")
    for _ in range(10):
        assert m.receive_data(b"x" * 500) == []  # one endless line, bounded memory
    assert m.receive_data(b"\nmore\n.\n") == []
    assert lines(m) == ["202 OK RECEIVING MESSAGE", "301 ERROR CANT SPEAK"]
    speak(m, "<speak>still works</speak>")


def test_a_long_document_is_spoken_in_pieces_with_its_marks() -> None:
    m = ready()
    sentence = "This sentence is part of a very long document. "
    body = "<speak>" + sentence * 300 + '<mark name="middle"/>' + sentence * 300 + "</speak>"
    a = speak(m, body)
    segs = a.job.segments
    texts = [s for s in segs if isinstance(s, Text)]
    assert Mark("middle") in segs and len(texts) >= 4
    assert all(len(t.text) <= 10_000 for t in texts)
    assert sum(len(t.text) for t in texts) >= len(sentence) * 600 - 1000


def test_overlong_command_line_is_answered_once() -> None:
    m = ready()
    m.receive_data(b"A" * (MAX_COMMAND_BYTES * 3))
    m.receive_data(b"B" * 10 + b"\nLIST VOICES\n")
    assert lines(m)[0] == "300 ERR UNKNOWN COMMAND"
    assert lines(m) == []  # all already read above


def test_eof_stops_and_quits_silently() -> None:
    m = ready()
    j = speak(m, "<speak>x</speak>").job.job
    assert m.eof() == [Stop(j), Quit()]
    assert lines(m) == []
    assert m.eof() == []


# -- message parsing -------------------------------------------------------------------------------


def spelling() -> ModuleProtocol:
    m = ready()
    m.receive_data(b"SET\nspelling_mode=on\n.\n")
    lines(m)
    return m


def test_spelling_mode_keeps_marks_even_in_broken_ssml() -> None:
    m = spelling()
    a = speak(m, '<speak>a&b <mark name="m1"/> c</speak')
    assert a.job.segments == (Text("eh and b"), Mark("m1"), Text("c"))


def test_ssml_doctype_is_never_expanded() -> None:
    m = spelling()
    body = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><speak>&a;&a;</speak>'
    a = speak(m, body)
    assert all(isinstance(s, Text) and "aaaaaaaaaa" not in s.text for s in a.job.segments)


def test_spelling_mode_breaks_and_capital_icons() -> None:
    m = spelling()
    m.receive_data(b"SET\ncap_let_recogn=icon\n.\n")
    lines(m)
    a = speak(m, '<speak>A<break time="300ms"/>b</speak>')
    assert a.job.segments == (Text("eh", 4.0), Pause(300.0), Text("b"))


# -- fuzz ------------------------------------------------------------------------------------------

COMMANDS = [
    b"INIT\n",
    b"SPEAK\n",
    b"CHAR\n",
    b"KEY\n",
    b"SOUND_ICON\n",
    b"STOP\n",
    b"PAUSE\n",
    b"SET\n",
    b"AUDIO\n",
    b"LOGLEVEL\n",
    b"LIST VOICES\n",
    b"DEBUG ON /tmp/x\n",
    b"QUIT\n",
    b".\n",
    b"..\n",
    b"rate=50\n",
    b"rate=500\n",
    b"punctuation_mode=all\n",
    b'<speak>Hi <mark name="__spd_1"/>there</speak>\n',
    b"<speak>broken\n",
    b"\xff\xfe\n",
    b"\r\n",
]

REPORTS = ["started", "mark", "spd_mark", "ended", "stopped", "init_ok", "init_fail"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.sampled_from(COMMANDS),
            st.binary(max_size=40),
            st.sampled_from(REPORTS),
        ),
        max_size=60,
    )
)
def test_fuzz_never_raises_and_every_command_is_answered(steps: list[bytes | str]) -> None:
    m = ModuleProtocol(max_message_bytes=2000)
    jobs: list[int] = []
    for step in steps:
        if isinstance(step, bytes):
            before = m.state
            collecting = m._mode.value != "command"  # noqa: SLF001 - the test checks replies per command
            actions = m.receive_data(step)
            for a in actions:
                if isinstance(a, Speak):
                    jobs.append(a.job.job)
            out = m.data_to_send().decode()
            # a plain command line given to a ready machine gets exactly one final reply
            if (
                before is ModuleState.READY
                and not collecting
                and step in (b"LIST VOICES\n", b"rate=50\n", b"..\n")
            ):
                finals = [ln for ln in out.splitlines() if len(ln) >= 4 and ln[3] == " " and ln[0] in "23"]
                assert len([f for f in finals if not f.startswith("7")]) >= 1
        else:
            j = jobs[-1] if jobs else 1
            if step == "started":
                m.playback_started(j)
            elif step == "mark":
                m.mark_reached(j, "m")
            elif step == "spd_mark":
                for a in m.mark_reached(j, "__spd_3"):
                    assert isinstance(a, Stop) and a.pause
            elif step == "ended":
                m.playback_ended(j)
            elif step == "stopped":
                m.playback_stopped(j)
            elif step == "init_ok":
                m.init_done(True, "ok", VOICES)
            else:
                m.init_done(False, "no")
        _check_invariants(m)
    m.eof()
    _check_invariants(m)


def _check_invariants(m: ModuleProtocol) -> None:
    out = m.data_to_send().decode()
    for ln in out.splitlines():
        assert len(ln) >= 3 and ln[:3].isdigit(), ln
    # no event without an accepted message: 70x only while a job is or was current
    assert len(m._buf) <= 2000 + MAX_COMMAND_BYTES + 64  # noqa: SLF001 - memory stays bounded


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["speak", "stop", "pause", "started", "mark", "spd_mark", "ended", "stopped"]))
)
def test_fuzz_exactly_one_terminal_event_per_accepted_message(ops: list[str]) -> None:
    m = ready()
    accepted = 0
    terminals = 0
    begins = 0
    last = 0
    for op in ops:
        if op == "speak":
            actions = m.receive_data(b"SPEAK\n<speak>x</speak>\n.\n")
            for a in actions:
                accepted += 1
                assert isinstance(a, Speak)
                last = a.job.job
        elif op == "stop":
            for a in m.receive_data(b"STOP\n"):
                assert a == Stop(last)
        elif op == "pause":
            m.receive_data(b"PAUSE\n")
        elif op == "started":
            m.playback_started(last)
        elif op == "mark":
            m.mark_reached(last, "m")
        elif op == "spd_mark":
            m.mark_reached(last, "__spd_1")
        elif op == "ended":
            m.playback_ended(last)
        else:
            m.playback_stopped(last)
        for ln in m.data_to_send().decode().splitlines():
            if ln in ("702 END", "703 STOP", "704 PAUSE"):
                terminals += 1
                assert begins == terminals  # BEGIN came first, once
            elif ln == "701 BEGIN":
                begins += 1
                assert begins == terminals + 1
            elif ln.startswith("700"):
                assert begins == terminals + 1  # marks only inside a message
    open_job = 1 if m.current_job is not None else 0
    assert terminals + open_job == accepted
