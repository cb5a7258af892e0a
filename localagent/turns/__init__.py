"""When to speak: localagent's turn-taking decisions, as plain code.

Nothing here imports pipecat or sleeps. Each decision takes typed signals (the VAD's start
and stop, its first voiced or quiet windows, whisper's transcripts, smart-turn's verdict,
the bot speaking) and an injected clock, and answers with typed actions (`actions.py`):
start or withdraw a speculative answer, end the turn, hush the bot, interrupt it. A
decision that must wait says when (`deadline`), and whoever drives it calls `tick()` then:
a pipecat adapter in a call (`localagent/call/turn_stop.py`, `localagent/call/barge_in.py`),
a simulated clock in the tests and in the replay evaluator (`replay.py`).

- `words.py`: what a transcript says about the end of the turn.
- `backchannel.py`: what a transcript said over the bot says (listening noises or words).
- `end_of_turn.py`: `EndOfTurn`, when the caller's turn is over, and speculation.
- `barge_in.py`: `BargeIn`, what the caller's voice over the bot is.
- `replay.py`: both decisions replayed in simulated time over recorded signals.
"""
