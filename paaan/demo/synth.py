"""Speech for the demo corpus: libespeak-ng (PyPI ``espeakng-loader``) through ctypes, voice-quality
effects added afterwards, and the two recording channels (IEMOCAP's studio, SSPNet's radio/telephone).

libespeak-ng keeps global state (one voice, one set of parameters, one callback, noise generators), so
``speak`` synthesises one text at a time from a freshly loaded library. espeak reports each word's onset
(WORD events), which gives the forced-alignment files their true word timings.
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import re
import threading
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from paaan.demo.expression import CONTROLS

ESPEAK_RATE = 22050  # libespeak-ng's output rate (espeak_Initialize returns it)

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_END = 0, 1, 5
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4


class _Event(ctypes.Structure):
    # espeak_EVENT: int type, uint unique_identifier, int text_position, int length, int audio_position,
    # int sample, void* user_data, then an 8-byte union (number / name / string[8]).
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Speech:
    """One synthesised text: ``samples`` (N,) float32 in [-1, 1] at ESPEAK_RATE, each word's onset."""

    samples: np.ndarray
    words: tuple[str, ...]
    onsets: tuple[int, ...]  # sample index of each word's start
    end: int  # sample index where espeak reports the end of speech


_LOCK = threading.Lock()  # libespeak-ng is one global state: one synthesis at a time per process


def speak(text: str, voice: str, rate: int, pitch: int, pitch_range: int, noise_seed: int = 1) -> Speech:
    """Speak ``text`` with ``voice`` (e.g. "en-us+f3") at ``rate`` words/min, ``pitch`` and ``pitch_range`` 0-100.

    The same arguments give the same samples, whatever was synthesised before: libespeak-ng carries state
    from one text to the next (pitch flutter phase, gain control, echo buffer, the breath-noise generators,
    seeded from the clock at start-up), so every call loads a fresh copy of the library, seeds both noise
    generators with ``noise_seed`` and unloads it afterwards (about 1 ms).
    """
    import espeakng_loader

    with _LOCK:
        chunks: list[np.ndarray] = []
        events: list[tuple[int, int, int, int]] = []

        def collect(wav, n, evs) -> int:
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
            i = 0
            while evs[i].type != _EVENT_LIST_TERMINATED:
                e = evs[i]
                events.append((e.type, e.text_position, e.length, e.sample))
                i += 1
            return 0  # 0 = go on synthesising

        callback = _CALLBACK(collect)  # referenced until the library is gone
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        try:
            rate_hz = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
            if rate_hz != ESPEAK_RATE:
                raise RuntimeError(f"libespeak-ng initialised at {rate_hz} Hz, expected {ESPEAK_RATE}")
            lib.espeak_SetSynthCallback(callback)
            lib.espeak_ng_SetRandSeed(ctypes.c_long(noise_seed))
            _libc().srand(ctypes.c_uint(noise_seed))  # wavegen's breath noise uses libc's rand()
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise RuntimeError(f"libespeak-ng has no voice {voice!r}")
            for param, value in ((_PARAM_RATE, rate), (_PARAM_VOLUME, 100), (_PARAM_PITCH, pitch),
                                 (_PARAM_RANGE, pitch_range)):
                lib.espeak_SetParameter(param, int(value), 0)
            data = text.encode("utf-8")
            status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
        finally:
            lib.espeak_Terminate()
            _ctypes.dlclose(lib._handle)
    if status != 0 or not chunks:
        raise RuntimeError(f"libespeak-ng failed (status {status}) on {text!r}")
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    word_events = [(position, sample) for kind, position, length, sample in events
                   if kind == _EVENT_WORD and length > 0]
    ends = [sample for kind, _, _, sample in events if kind == _EVENT_END]
    end = max(ends[-1] if ends else len(samples), word_events[-1][1] if word_events else 0)
    words, onsets = word_onsets(text, word_events, end)
    return Speech(samples, words, onsets, end)


def word_onsets(text: str, events: list[tuple[int, int]], end: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Every whitespace-separated word of ``text`` with its onset sample.

    ``events`` are espeak's WORD events as (text position counted from 1, sample). espeak speaks some word
    pairs as one ("I am", "from the") and reports only the first; the words it skipped share the span up
    to the next event (or ``end``) with it, in proportion to their letters. By hand: "He died and I am
    lost." with events at characters 1, 4, 9, 13, 18 and samples 0, 100, 200, 300, 500 (end 700) gives
    "am" (2 letters after the 1 of "I") the onset 300 + 200 * 1/3 = 367.
    """
    tokens = [(m.start() + 1, m.group()) for m in re.finditer(r"\S+", text)]  # (position from 1, word)
    starts: dict[int, int] = {}  # token index -> onset sample
    for position, sample in events:
        for i, (first, word) in enumerate(tokens):
            if first <= position < first + len(word):
                starts.setdefault(i, sample)
                break
    if 0 not in starts:
        starts[0] = events[0][1] if events else 0
    onsets = [0] * len(tokens)
    spoken = sorted(starts)
    for k, i in enumerate(spoken):
        group = range(i, spoken[k + 1] if k + 1 < len(spoken) else len(tokens))  # the word and those it carried
        stop = starts[spoken[k + 1]] if k + 1 < len(spoken) else end
        letters = [max(1, sum(c.isalpha() for c in tokens[j][1])) for j in group]
        done = 0
        for j, n in zip(group, letters):
            onsets[j] = int(round(starts[i] + (stop - starts[i]) * done / sum(letters)))
            done += n
    return tuple(word for _, word in tokens), tuple(onsets)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)  # the process' C library (rand / srand)


# ---------------------------------------------------------------------------------------------------------
# Controls (expression.CONTROLS, in control units) -> espeak parameters and effect strengths.


@dataclass(frozen=True)
class ProsodySettings:
    rate: int  # words per minute
    pitch: int  # espeak 0-100 (50 = the voice's own base pitch)
    pitch_range: int  # espeak 0-100 (50 = the voice's own range)
    gain_db: float  # level relative to the corpus' reference level
    tension: float  # > 0 pressed (saturated, brighter), < 0 lax (darker)
    breath: float  # aspiration noise RMS relative to the voice's RMS
    jitter: float  # relative cycle-to-cycle pitch perturbation (0.01 = 1 %)
    tremolo: float  # depth of a ~6 Hz amplitude (and slight pitch) modulation


def prosody_settings(controls: np.ndarray) -> ProsodySettings:
    """Map (K,) controls to synthesis settings; one control unit is an ordinary, clearly audible step."""
    c = dict(zip(CONTROLS, np.asarray(controls, dtype=float)))
    return ProsodySettings(
        rate=int(np.clip(round(170 * 1.2 ** c["rate"]), 90, 340)),
        pitch=int(np.clip(round(50 + 15 * c["pitch"]), 5, 99)),
        pitch_range=int(np.clip(round(50 + 20 * c["range"]), 0, 100)),
        gain_db=float(np.clip(4.5 * c["volume"], -16.0, 13.0)),
        tension=float(np.clip(c["tension"], -2.0, 2.5)),
        breath=float(np.clip(0.08 * np.exp(1.0 * c["breath"]), 0.0, 0.8)),
        jitter=float(np.clip(0.008 * np.exp(0.8 * c["jitter"]), 0.0, 0.06)),
        tremolo=float(np.clip(0.12 * c["tremolo"], 0.0, 0.45)),
    )


# ---------------------------------------------------------------------------------------------------------
# Voice-quality effects on espeak's output (float samples at ESPEAK_RATE).


@functools.cache
def _sos(order: int, cutoff: float | tuple[float, float], btype: str, fs: int) -> np.ndarray:
    """A Butterworth filter as second-order sections (designed once per process)."""
    return butter(order, cutoff, btype=btype, fs=fs, output="sos")


def db_to_gain(db: float) -> float:
    """Amplitude factor of a level change in dB: 20 * log10(gain) = db (-6.0206 dB -> 0.5)."""
    return float(10.0 ** (db / 20.0))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def envelope(x: np.ndarray, sr: int, seconds: float = 0.02) -> np.ndarray:
    """(N,) amplitude envelope: the moving RMS over ``seconds``."""
    power = uniform_filter1d(np.square(x, dtype=np.float64), size=max(1, int(sr * seconds)), mode="constant")
    return np.sqrt(np.maximum(power, 0.0))


def warp(x: np.ndarray, sr: int, jitter: float, tremolo: float, tremolo_hz: float,
         rng: np.random.Generator) -> np.ndarray:
    """Perturb pitch by reading ``x`` at slightly moving times: jitter and the pitch side of tremolo.

    The local playback speed 1 + s(t) scales pitch by the same factor; s is random at 400 knots/s, a few
    per glottal cycle (cycle-to-cycle jitter of relative size ``jitter``) plus a slow sine (tremolo). The
    accumulated time shift stays within a few ms, so word timings are unchanged.
    """
    n = len(x)
    t = np.arange(n) / sr
    knots = rng.standard_normal(int(n / sr * 400) + 2) * jitter
    speed = np.interp(t * 400, np.arange(len(knots)), knots)
    speed += 0.25 * tremolo * np.sin(2 * np.pi * tremolo_hz * t)  # vibrato of tremolo / 4 (0.45 -> 11 %)
    shift = np.cumsum(speed)
    shift -= np.linspace(0, shift[-1], n) if n else 0  # no drift: start and end stay put
    return np.interp(np.arange(n) + shift, np.arange(n), x).astype(np.float32)


def add_breath(x: np.ndarray, sr: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """Add aspiration noise (1.5-6 kHz) that follows the voice's envelope, at ``level`` x the voice's RMS."""
    if level <= 0:
        return x
    noise = sosfilt(_sos(4, (1500, 6000), "bandpass", sr), rng.standard_normal(len(x)))
    noise *= envelope(x, sr)
    scale = level * rms(x) / max(rms(noise), 1e-12)
    return (x + scale * noise).astype(np.float32)


def pressed(x: np.ndarray, sr: int, tension: float) -> np.ndarray:
    """Vocal effort: > 0 saturates (more harmonics) and brightens the spectrum; < 0 darkens it."""
    high = sosfilt(_sos(2, 2000, "highpass", sr), x)
    y = x + float(np.clip(0.35 * tension, -0.8, 1.2)) * high  # spectral tilt
    if tension > 0:
        peak = max(float(np.max(np.abs(y))), 1e-9)
        drive = 1.0 + 1.5 * tension
        y = peak * np.tanh(drive * y / peak) / np.tanh(drive)
    return np.asarray(y, dtype=np.float32)


def tremble(x: np.ndarray, sr: int, depth: float, hz: float, phase: float) -> np.ndarray:
    """Amplitude tremolo: x * (1 + depth * sin(2 pi hz t + phase))."""
    if depth <= 0:
        return x
    t = np.arange(len(x)) / sr
    return (x * (1.0 + depth * np.sin(2 * np.pi * hz * t + phase))).astype(np.float32)


def voice_quality(x: np.ndarray, sr: int, s: ProsodySettings, rng: np.random.Generator) -> np.ndarray:
    """All effects of ``s`` on one utterance, then its level: RMS at -28 dBFS + gain_db."""
    hz, phase = rng.uniform(5.0, 7.0), rng.uniform(0, 2 * np.pi)
    y = warp(x, sr, s.jitter, s.tremolo, hz, rng)
    y = pressed(y, sr, s.tension)
    y = add_breath(y, sr, s.breath, rng)
    y = tremble(y, sr, s.tremolo, hz, phase)
    return (y * db_to_gain(-28.0 + s.gain_db) / max(rms(y), 1e-9)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Word spans, for the forced alignment.


def word_ends(x: np.ndarray, sr: int, onsets: tuple[int, ...], end: int, floor_db: float = -35.0) -> list[int]:
    """Each word's last sounding sample + 1: the last 10 ms frame before the next onset (or ``end``) whose
    level is within ``floor_db`` of the utterance's loudest frame; so a pause after a word is not the word."""
    hop = sr // 100
    frames = len(x) // hop
    level = np.sqrt(np.mean(np.square(x[: frames * hop], dtype=np.float64).reshape(frames, hop), axis=1))  # (frames,)
    threshold = level.max(initial=0.0) * db_to_gain(floor_db)
    ends = []
    for i, start in enumerate(onsets):
        stop = onsets[i + 1] if i + 1 < len(onsets) else max(end, start + 1)
        f0, f1 = start // hop, min(frames, -(-stop // hop))
        loud = np.flatnonzero(level[f0:f1] > threshold)
        last = (f0 + loud[-1] + 1) * hop if len(loud) else stop
        ends.append(int(min(max(last, start + hop), stop)))
    return ends


# ---------------------------------------------------------------------------------------------------------
# Channels.


def pad(x: np.ndarray, sr: int, lead_s: float, tail_s: float) -> np.ndarray:
    return np.concatenate([np.zeros(int(lead_s * sr), np.float32), x, np.zeros(int(tail_s * sr), np.float32)])


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] to 16-bit PCM (clipped)."""
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def studio_channel(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """IEMOCAP's side: a small room and a quiet close-talk microphone, 22.05 -> 16 kHz, 16-bit."""
    sr = ESPEAK_RATE
    n_ir = int(0.25 * sr)
    t = np.arange(n_ir) / sr
    ir = rng.standard_normal(n_ir) * np.exp(-6.9 * t / 0.3) * db_to_gain(-24.0)  # RT60 0.3 s, weak
    ir[0] = 1.0
    y = fftconvolve(x, ir)[: len(x)]
    y = resample_poly(y, 320, 441)  # 22050 * 320 / 441 = 16000
    hiss = sosfilt(_sos(1, 3000, "lowpass", 16000), rng.standard_normal(len(y)))
    y = y + hiss * db_to_gain(-60.0) / max(rms(hiss), 1e-12)
    return to_int16(y)


def radio_channel(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SSPNet's side: broadcast compression, telephone band (300-3400 Hz), line noise, 8 kHz, G.711 mu-law."""
    sr = ESPEAK_RATE
    env = envelope(x, sr, 0.05)
    threshold = db_to_gain(-32.0)
    gain = np.where(env > threshold, (np.maximum(env, 1e-9) / threshold) ** (1 / 2.0 - 1), 1.0)  # ratio 2:1
    y = x * gain
    y = sosfilt(_sos(4, (300, 3400), "bandpass", sr), y)
    y = resample_poly(y, 160, 441)  # 22050 * 160 / 441 = 8000
    snr_db = rng.uniform(18.0, 28.0)
    hum = np.sin(2 * np.pi * 50 * np.arange(len(y)) / 8000) * 0.3 + rng.standard_normal(len(y))
    y = y + hum * rms(y) * db_to_gain(-snr_db) / max(rms(hum), 1e-12)
    y = y * db_to_gain(6.0 + rng.uniform(-1.0, 1.0))  # broadcast level; the speaker's loudness stays
    # mu-law (mu = 255) with 8-bit codes: the telephone network's quantisation
    mu = 255.0
    code = np.round(np.sign(y) * np.log1p(mu * np.minimum(np.abs(y), 1.0)) / np.log1p(mu) * 127.0) / 127.0
    y = np.sign(code) * np.expm1(np.abs(code) * np.log1p(mu)) / mu
    return to_int16(y)
