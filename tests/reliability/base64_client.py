"""A remote client of a served model: it sends the audio itself, base64-encoded, in a process of its own.

Run by tests/reliability/test_concurrent_load.py: ``python base64_client.py URL SPEC.json OUT.json``. SPEC.json
names one speaker's wav files, their transcripts and word timings; the client reads the files, encodes them
and POSTs three requests to URL/invocations (127.0.0.1 only) as ``dataframe_split`` JSON:

- ``good``: every row's audio as ``audio_base64``, with its transcript and ``word_starts``/``word_ends``;
- ``corrupt``: the same with row 1's base64 damaged (a character outside the alphabet);
- ``oversize``: the same with row 1 replaced by a WAV file of 17 MiB (over the served model's 16 MiB limit).

OUT.json holds, per request, the HTTP status, the seconds it took, the body's size and the answer (the
predictions, or the error code and message).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from urllib.parse import urlparse

import numpy as np
import requests
import soundfile as sf

OVERSIZE_BYTES = 17 * 2**20


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def oversize_wav() -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((OVERSIZE_BYTES - 44) // 2, np.int16), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def post(url: str, columns: list[str], rows: list[list]) -> dict:
    body = json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()
    started = time.perf_counter()
    response = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"},
                             timeout=300)
    record = {"status": response.status_code, "seconds": round(time.perf_counter() - started, 3),
              "body_bytes": len(body)}
    answer = response.json()
    if response.status_code == 200:
        record["predictions"] = answer["predictions"]
    else:
        record["error_code"] = answer.get("error_code")
        record["message"] = answer.get("message", "")
        record["has_stack_trace"] = "stack_trace" in answer or "Traceback" in response.text
    return record


def main(url: str, spec_path: str, out: str) -> None:
    if urlparse(url).hostname != "127.0.0.1":
        raise SystemExit(f"refusing to send requests anywhere but 127.0.0.1: {url}")
    spec = json.loads(open(spec_path).read())
    audio = [encode(open(path, "rb").read()) for path in spec["wavs"]]
    columns = ["speaker", "transcript", "audio_base64", "word_starts", "word_ends"]

    def rows(audio_column: list[str]) -> list[list]:
        return [[spec["speaker"], text, b64, starts, ends] for text, b64, starts, ends
                in zip(spec["transcripts"], audio_column, spec["word_starts"], spec["word_ends"])]

    corrupt = list(audio)
    corrupt[1] = corrupt[1][:100] + "$" + corrupt[1][101:]
    oversize = list(audio)
    oversize[1] = encode(oversize_wav())
    records = {"good": post(url, columns, rows(audio)), "corrupt": post(url, columns, rows(corrupt)),
               "oversize": post(url, columns, rows(oversize))}
    with open(out, "w") as handle:
        json.dump(records, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
