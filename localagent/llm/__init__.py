"""The language model's habits on the wire: reasoning, tool calls written as text, what a
model can do and how much it can read. Pure decisions; `call/` adapts them to pipecat."""
