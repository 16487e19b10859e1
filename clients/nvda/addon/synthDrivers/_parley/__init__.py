"""The Parley synth driver's own code, importable without NVDA (standard library only).

speech:   NVDA speech sequences (as neutral items) -> utterances; NVDA 0-100 settings -> Parley's
session:  Parley's WebSocket protocol v2 (contexts) / v1, client side, sans I/O
wsclient: a small RFC 6455 client (NVDA's Python has no websockets package)
core:     connection, reader and feeder threads, index/done callbacks at play time

The leading underscore keeps NVDA from listing this package as a synthesizer.
"""
