"""A reply from any OpenAI-compatible chat-completions server (Ollama, llama.cpp's server, vLLM, ...), streamed:
`POST {url}/chat/completions` with `stream: true`, read as server-sent events, one text piece per delta.

Iterating yields the pieces as they arrive; a server that cannot be reached, refuses the token, answers with
an error, stalls, sends something that is not its event stream, or drops the connection raises UserError
saying which — after the pieces that did arrive, so what came can still be spoken. `close()` (from any
thread) ends the HTTP request: a barge-in stops the model too."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import UserError

CONNECT_S = 5.0
STALL_S = 15.0


class ChatStream:
    def __init__(self, url: str, model: str, prompt: str, token: str | None = None, stall_s: float = STALL_S,
                 system: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"chat server URL {url!r} must start with http:// or https://",
                            "e.g. --llm http://localhost:11434/v1 (Ollama)")
        if not prompt.strip():
            raise UserError("the prompt is empty", "say what to ask the model")
        self.url = url.rstrip("/") + ("" if url.rstrip("/").endswith("/chat/completions") else "/chat/completions")
        self.model = model
        self.stall_s = stall_s
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}]
        self.body = {"model": model, "messages": messages, "stream": True}
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.text = ""  # everything received so far
        self._closed = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            resp = self._response
        if resp is not None:
            # closing a response another thread reads may raise; it is closed either way
            with contextlib.suppress(Exception):
                resp.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __iter__(self) -> Iterator[str]:
        import httpx

        timeout = httpx.Timeout(self.stall_s, connect=CONNECT_S)
        try:
            with httpx.Client(timeout=timeout) as client, client.stream(
                    "POST", self.url, json=self.body, headers=self.headers) as resp:
                with self._lock:
                    self._response = resp
                if self._closed.is_set():
                    return
                whole = self._check_status(resp)
                if whole:
                    yield whole
                    return
                yield from self._events(resp)
        except httpx.ConnectError as exc:
            raise UserError(f"cannot reach the chat server at {self.url} ({exc})",
                            "start it (e.g. `ollama serve`) or check --llm") from exc
        except httpx.TimeoutException as exc:
            if self._closed.is_set():
                return
            raise UserError(f"the chat server sent nothing for {self.stall_s:.0f} s",
                            "it may be overloaded or stuck; what came was spoken") from exc
        except httpx.HTTPError as exc:
            if self._closed.is_set():
                return  # our own close (a barge-in)
            raise UserError(f"the chat server dropped the reply ({type(exc).__name__}: {exc})",
                            "what came was spoken; try again") from exc
        finally:
            with self._lock:
                self._response = None

    def _check_status(self, resp: Any) -> str:
        """Raise for a refusal or an error; the reply's text when the server answered whole (not streamed)."""
        if resp.status_code in (401, 403):
            raise UserError(f"the chat server refused the token ({resp.status_code})", "pass the server's --token")
        if resp.status_code >= 400:
            resp.read()
            raise UserError(f"the chat server answered {resp.status_code}: {_error_message(resp)}",
                            "check --model and the server")
        ctype = resp.headers.get("content-type", "")
        if "json" in ctype:  # not a stream: an error object, or a server that ignores stream: true
            resp.read()
            data = _json(resp.text)
            err = data.get("error") if isinstance(data, dict) else None
            if err:
                raise UserError(f"the chat server answered: {_message(err)}", "check --model and the server")
            content = _content(data)
            if content:
                self.text += content
                return content
            raise UserError("the chat server answered with JSON, not an event stream",
                            "is this an OpenAI-compatible /v1 endpoint?")
        return ""

    def _events(self, resp: Any) -> Iterator[str]:
        for line in resp.iter_lines():
            if self._closed.is_set():
                return
            line = line.strip()
            if not line or line.startswith(":"):
                continue  # keep-alive comments, event separators
            if not line.startswith("data:"):
                if line.startswith(("event:", "id:", "retry:")):
                    continue
                raise UserError(f"the chat server sent a line that is not a server-sent event: {line[:80]!r}",
                                "is this an OpenAI-compatible /v1 endpoint?")
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            data = _json(payload)
            if not isinstance(data, dict):
                raise UserError(f"the chat server sent an event that is not JSON: {payload[:80]!r}",
                                "is this an OpenAI-compatible /v1 endpoint?")
            if data.get("error"):
                raise UserError(f"the chat server stopped with an error: {_message(data['error'])}",
                                "what came was spoken")
            piece = _delta(data)
            if piece:
                self.text += piece
                yield piece


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _delta(data: dict[str, Any]) -> str:
    try:
        piece = data["choices"][0].get("delta", {}).get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return piece if isinstance(piece, str) else ""


def _content(data: Any) -> str:
    try:
        piece = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    return piece if isinstance(piece, str) else ""


def _message(err: Any) -> str:
    return str(err.get("message") if isinstance(err, dict) else err)[:300]


def _error_message(resp: Any) -> str:
    data = _json(resp.text)
    if isinstance(data, dict) and data.get("error"):
        return _message(data["error"])
    return resp.text[:200] or resp.reason_phrase
