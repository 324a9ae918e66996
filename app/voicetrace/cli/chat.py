"""`voicetrace chat`: ask any OpenAI-compatible chat server (Ollama, llama.cpp, vLLM) and speak the reply while
it is being written; the text is printed as it comes. A cancel (--cancel-after, Ctrl+C) stops the speech and
closes the request to the model."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator

from ..remote.chat import ChatStream
from .speak import report, speak_request


def cmd_chat(args: argparse.Namespace) -> int:
    chat = ChatStream(args.llm, args.model, args.prompt, args.token or os.environ.get("VOICETRACE_LLM_TOKEN"),
                      stall_s=args.stall)
    out = sys.stderr if args.json else sys.stdout  # with --json, standard output holds only the record

    def pieces() -> Iterator[str]:
        try:
            for piece in chat:
                print(piece, end="", file=out, flush=True)
                yield piece
        finally:
            print(file=out, flush=True)

    engine_args = argparse.Namespace(**{**vars(args), "token": args.engine_token, "model": None, "wav": None,
                                        "barge_in": None})
    m, record = speak_request(engine_args, lambda s, eng: s.open(eng, args.voice, args.speed),
                              feed_from=pieces(), on_cancel=chat.close)
    record.update(reply=chat.text, llm={"url": chat.url, "model": args.model})
    return report(args, m, record)
