"""One side of `manage.py bench_inbound_compare`: a checkout's WSGI application answering signed
voice webhooks in this process, in batches the parent asks for on stdin, with the CPU each batch
took on stdout. Run as a script with the checkout to measure as the working directory:

    python <this file> '<json config>'

Only the standard library and twilio are imported before the checkout's own voiceplatform, so this
file can drive any checkout, an older one included.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlencode

PATH = "/api/v1/telephony/twilio/voice"


def _environ(config: dict[str, Any], signature: str, body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": PATH, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000", "HTTP_USER_AGENT": "TwilioProxy/1.1", "HTTP_X_TWILIO_SIGNATURE": signature,
        "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }  # fmt: skip


def main() -> None:
    config = json.loads(sys.argv[1])
    sys.path[0] = os.getcwd()  # the checkout to measure, not this file's directory
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceplatform.settings")
    from twilio.request_validator import RequestValidator

    from voiceplatform.wsgi import application  # the checkout's production WSGI application

    try:  # as gunicorn's post_fork does (voiceplatform/gunicorn_conf.py), where the checkout has it
        from voiceplatform.webhooks import relay

        relay.enable()
    except ImportError:
        pass
    validator = RequestValidator(config["token"])
    signed_url = config["public_base_url"] + PATH

    def webhook() -> None:
        params = {
            "AccountSid": config["account_sid"], "ApiVersion": "2010-04-01", "CallSid": "CA" + uuid.uuid4().hex,
            "CallStatus": "ringing", "Called": config["to"], "Caller": config["from"], "Direction": "inbound",
            "From": config["from"], "FromCountry": "US", "FromState": "NY", "FromCity": "NEW YORK", "To": config["to"],
            "ToCountry": "US",
        }  # fmt: skip
        body = urlencode(params).encode()
        status: list[str] = []
        answer = application(
            _environ(config, validator.compute_signature(signed_url, params), body),
            lambda line, headers, exc_info=None: status.append(line),
        )
        content = b"".join(answer)
        answer.close()
        if not status[0].startswith("200") or b"<Sip>" not in content:
            raise SystemExit(f"the webhook was not connected: {status[0]} {content[:200]!r}")

    for line in sys.stdin:
        count = int(line)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            webhook()
        print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}), flush=True)


if __name__ == "__main__":
    main()
