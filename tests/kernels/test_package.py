"""The package surface: a small pinned __all__, lazy compilation, warmup."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import parley_kernels


def test_all_is_pinned() -> None:
    assert sorted(parley_kernels.__all__) == [
        "VocoderState",
        "float_to_alaw",
        "float_to_pcm16",
        "float_to_ulaw",
        "flush",
        "g711",
        "init_state",
        "pitch",
        "push",
        "rateplan",
        "resample",
        "synthesize",
        "tsm",
        "warmup",
    ]
    for name in parley_kernels.__all__:
        assert getattr(parley_kernels, name) is not None


def test_import_compiles_nothing_and_warmup_compiles_everything() -> None:
    # In a fresh interpreter: after import no kernel has a compiled signature; after warmup()
    # every kernel has one per layout that push()/float_to_pcm16 pass on.
    code = textwrap.dedent(
        """
        import sys
        import parley_kernels
        from parley_kernels import _vocoder_numba as k, g711, pcm, rateplan, resample, tsm
        kernels = [
            k.spectral_factors, k.pulse_train, k.synth_frames, pcm._pcm16_numba,
            g711._ulaw_numba, g711._alaw_numba, resample._polyphase_numba,
            tsm._wsola_numba, rateplan._flux_numba, rateplan._share_numba,
        ]
        assert all(not f.signatures for f in kernels), [f.signatures for f in kernels]
        parley_kernels.warmup()
        layouts = {f.__name__: sorted(str(sig[0]) for sig in f.signatures) for f in kernels}
        print(layouts)
        assert layouts["spectral_factors"] == ["array(float32, 2d, A)", "array(float32, 2d, C)"]
        assert layouts["_pcm16_numba"] == ["array(float32, 1d, A)", "array(float32, 1d, C)"]
        assert layouts["_ulaw_numba"] == layouts["_alaw_numba"] == layouts["_pcm16_numba"]
        # one layout each: the wrappers pass contiguous float32 only
        for name in ("_polyphase_numba", "_wsola_numba"):
            assert layouts[name] == ["array(float32, 1d, C)"], (name, layouts[name])
        assert layouts["pulse_train"] and layouts["synth_frames"]
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr
