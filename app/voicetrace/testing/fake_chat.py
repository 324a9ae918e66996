"""A local OpenAI-compatible chat server for tests and the benchmark: `POST /v1/chat/completions` with
`stream: true` answers with server-sent events, a few characters per token at a set rate. The prompt picks a
fault: "stall" (stops sending after a few tokens), "malformed" (a line that is not an event), "error" (a JSON
error instead of a stream), "drop" (closes the connection mid-reply); a wrong token gets 401."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

REPLY = ("Sure. Streaming speech starts while the reply is still being written, so the listener hears the first "
         "words after a fraction of a second instead of waiting for the whole answer. Each later phrase is "
         "sized to the audio already queued, and if the user interrupts, the words actually heard are "
         "reported back.")


def tokens(text: str) -> list[str]:
    """Pieces shaped like a tokenizer's: a word with its leading space, long words in two, punctuation apart."""
    out: list[str] = []
    for m in re.finditer(r"\s*[\w'’]+|\s*[^\w\s]", text):
        tok = m.group(0)
        word = tok.lstrip()
        if len(word) > 7:
            cut = len(tok) - len(word) + len(word) // 2
            out += [tok[:cut], tok[cut:]]
        else:
            out.append(tok)
    return out


def build_chat_app(reply: str = REPLY, tokens_per_s: float = 30.0, token: str | None = None,
                   first_token_s: float = 0.0) -> Starlette:
    """`first_token_s`: the model's thinking time before its first token."""

    async def completions(request: Request) -> Response:
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}},
                                status_code=401)
        body = await request.json()
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        if "error" in prompt:
            return JSONResponse({"error": {"message": f"model {body.get('model')!r} not found"}}, status_code=404)

        async def events() -> AsyncIterator[bytes]:
            await asyncio.sleep(first_token_s)
            for k, tok in enumerate(tokens(reply)):
                if "stall" in prompt and k == 6:
                    await asyncio.sleep(3600)
                if "malformed" in prompt and k == 4:
                    yield b"this is not an event\n\n"
                if "drop" in prompt and k == 8:
                    raise ConnectionError("dropped on purpose")
                chunk: dict[str, Any] = {"object": "chat.completion.chunk", "model": body.get("model"),
                                         "choices": [{"index": 0, "delta": {"content": tok}}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(1 / tokens_per_s)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
