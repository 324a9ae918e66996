"""A local OpenAI-compatible chat server for tests and the benchmark: `POST /v1/chat/completions` with
`stream: true` answers with server-sent events, a few characters per token at a set rate. "say: TEXT" as the
prompt replies TEXT; other prompts pick a fault: "stall" (stops sending after a few tokens), "malformed" (a
line that is not an event), "error" (a JSON error instead of a stream), "drop" (closes the connection
mid-reply); a wrong token gets 401."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..text.feed import token_pieces

REPLY = ("Sure. Streaming speech starts while the reply is still being written, so the listener hears the first "
         "words after a fraction of a second instead of waiting for the whole answer. Each later phrase is "
         "sized to the audio already queued, and if the user interrupts, the words actually heard are "
         "reported back.")


tokens = token_pieces  # the app's own simulation of a tokenizer


def build_chat_app(reply: str = REPLY, tokens_per_s: float = 30.0, token: str | None = None,
                   first_token_s: float = 0.0, tokenize: Callable[[str], list[str]] = tokens) -> Starlette:
    """`first_token_s`: the model's thinking time before its first token; `tokenize`: how the reply is cut
    (the benchmark passes a real tokenizer's)."""

    async def completions(request: Request) -> Response:
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}},
                                status_code=401)
        body = await request.json()
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        reply_now = prompt[4:].strip() if prompt.startswith("say:") else reply  # "say: …" asks for that reply
        if "error" in prompt:
            return JSONResponse({"error": {"message": f"model {body.get('model')!r} not found"}}, status_code=404)

        async def events() -> AsyncIterator[bytes]:
            await asyncio.sleep(first_token_s)
            for k, tok in enumerate(tokenize(reply_now)):
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


class ChatServer:
    """`build_chat_app` on a free loopback port, in a thread (uvicorn), for the benchmark and scripts."""

    def __init__(self, app: Starlette) -> None:
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    timeout_graceful_shutdown=1))
        self._thread: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ChatServer:
        import threading
        import time

        self._thread = threading.Thread(target=self.server.run, name="fake-chat", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake chat server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10)
