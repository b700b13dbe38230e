"""manage.py bench_inbound_webhook, run for real (gunicorn, fake LiveKit, signed webhooks) at a tiny rate."""

from __future__ import annotations

import errno
import io
import re
import socket
import threading
import time

import pytest
from django.core.management import CommandError, call_command

from telephony_app.models import Call, PhoneNumber
from voiceplatform.devtools import bench_load
from voiceplatform.models import ProviderCredential, Tenant

LAST_LINE = re.compile(r"bench_inbound_webhook rps=(\d+\.\d) p50_ms=(\d+\.\d) p99_ms=(\d+\.\d) errors=(\d+)")


@pytest.mark.django_db(transaction=True)  # gunicorn's workers must see the seeded rows
def test_a_short_run_answers_every_webhook_and_cleans_up():
    out = io.StringIO()

    # 20 webhooks: CPU is read from /proc in 10 ms ticks, and 5 cost the database's backends less than one.
    call_command("bench_inbound_webhook", "--rps", "20", "--seconds", "1", stdout=out)

    last = out.getvalue().strip().splitlines()[-1]
    match = LAST_LINE.fullmatch(last)
    assert match, last
    rps, p50, p99, errors = match.groups()
    assert errors == "0", out.getvalue()
    assert 0 < float(p50) <= float(p99)
    assert float(rps) > 0
    assert "sent=20 calls_written=30 livekit_rooms=30" in out.getvalue()  # 10 warm-up + 20 measured
    # the server's CPU per webhook: its gunicorn processes' and the database backends' (a local server here)
    cpu = re.search(r"^cpu_ms_per_webhook: gunicorn=(\d+\.\d\d) postgresql=(\d+\.\d\d)$", out.getvalue(), re.M)
    assert cpu, out.getvalue()
    assert float(cpu[1]) > 0 and float(cpu[2]) > 0
    assert not Tenant.objects.filter(slug__startswith="bench-inbound-").exists()
    assert (Call.objects.count(), PhoneNumber.objects.count(), ProviderCredential.objects.count()) == (0, 0, 0)


def test_nonsense_options_are_refused(db):
    with pytest.raises(CommandError, match="--rps"):
        call_command("bench_inbound_webhook", "--rps", "0")


def _config(base_url: str, **overrides: object) -> dict[str, object]:
    config = {
        "base_url": base_url, "path": "/voice", "public_url": base_url + "/voice", "token": "t" * 32,
        "account_sid": "AC" + "0" * 32, "to": "+14155550100", "from": "+12125550100", "rps": 50, "seconds": 0.1,
    }  # fmt: skip
    return {**config, **overrides}


def test_the_load_counts_a_refused_connection_as_an_error_not_a_latency_it_never_had():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = bench_load._run(_config(f"http://127.0.0.1:{port}"))

    assert result["sent"] == 5 and result["errors"] == 5
    assert result["error_samples"] == [f"ConnectionError errno {errno.ECONNREFUSED}"]


def test_the_load_judges_each_answer_and_times_it_from_its_planned_moment():
    answers = iter(
        [b"HTTP/1.1 200 OK\r\n\r\n<Response><Dial><Sip>x</Sip></Dial></Response>", b"HTTP/1.1 500 Oops\r\n\r\n"]
    )

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def serve() -> None:
            for answer in answers:
                connection, _ = server.accept()
                with connection:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += connection.recv(65536)
                    time.sleep(0.05)
                    connection.sendall(answer)

        thread = threading.Thread(target=serve)
        thread.start()
        result = bench_load._run(_config(f"http://127.0.0.1:{server.getsockname()[1]}", rps=20, seconds=0.1))
        thread.join()

    assert result["sent"] == 2 and result["errors"] == 1
    assert result["error_samples"] == ["HTTP/1.1 500 Oops"]
    assert all(latency >= 50 for latency in result["latencies_ms"])
