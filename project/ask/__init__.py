"""Ask: an answer from the stored chunks, with numbered sources, by a chat model through the shared gate.

The question is embedded (the search's query path), its owner's nearest chunks are deduplicated
and fitted into the chat model's context with room for the answer (``context.py``), and the
answer streams back through the gate, admitted on its prompt + ``max_tokens`` under the chat
model's own limits and reconciled with its usage (``answer.py``). Each ask is recorded
(``models.py``), so the daily token budget counts its tokens.
"""
