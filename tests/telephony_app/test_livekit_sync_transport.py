"""The room calls (CreateRoom, DeleteRoom, ListRooms) from a process's main thread (a gunicorn sync
worker, a Celery prefork child) go over livekit_client's kept-alive http.client connection, not
aiohttp: one connection for many calls, a fresh one when LiveKit closed it, HTTPS with certificate
checks, and never longer than the request timeout, however slowly LiveKit answers."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from telephony_app import livekit_client
from voiceplatform.devtools.fake_livekit import KEY, SECRET, FakeLiveKit

METADATA = {"call_id": "c1", "agent_id": "a1", "call_type": "inbound"}


def test_many_room_calls_share_one_kept_alive_connection(livekit):
    for number in range(5):
        livekit_client.create_room(name=f"room-{number}", metadata=METADATA)
    livekit_client.delete_room(room="room-0")

    assert sorted(livekit_client.list_rooms()) == [f"room-{number}" for number in range(1, 5)]
    assert len(livekit.connections) == 1
    assert len(livekit.messages("RoomService/CreateRoom")) == 5


def test_a_connection_livekit_closed_meanwhile_is_replaced_and_the_call_goes_through(livekit):
    livekit_client.create_room(name="before", metadata=METADATA)
    livekit.drop_connections()  # LiveKit ends idle keep-alive connections
    time.sleep(0.05)

    livekit_client.create_room(name="after", metadata=METADATA)

    assert sorted(livekit.rooms) == ["after", "before"]
    assert len(livekit.messages("RoomService/CreateRoom")) == 2  # sent once each, not twice


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Reads a request, then sends an answer one byte every 0.1 s (each read returns quickly)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/protobuf\r\nContent-Length: 0\r\n\r\n":
                    if stop.wait(0.1):
                        break
                    try:
                        connection.sendall(bytes([byte]))
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_an_answer_trickling_in_still_ends_at_the_timeout(trickling_server, settings, monkeypatch):
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = trickling_server, KEY, SECRET
    monkeypatch.setattr(livekit_client, "REQUEST_TIMEOUT_SECONDS", 0.5)
    started = time.monotonic()

    with pytest.raises(livekit_client.LiveKitUnavailable, match=r"did not answer within 0\.5 s"):
        livekit_client.create_room(name="slow", metadata=METADATA)

    # the whole answer would take 7 s; every single read took 0.1 s
    assert time.monotonic() - started < 1.0


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake LiveKit")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "livekit.pem", directory / "livekit.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_livekit(tmp_path, settings) -> Iterator[tuple[FakeLiveKit, Path]]:
    cert_path, key_path = _certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    with FakeLiveKit(tls=server_context) as fake:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = fake.url, KEY, SECRET
        yield fake, cert_path


def test_https_livekit_is_reached_when_its_certificate_is_trusted(tls_livekit, monkeypatch):
    fake, cert_path = tls_livekit
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))  # as an operator's CA bundle would

    livekit_client.create_room(name="secure", metadata=METADATA)
    livekit_client.create_room(name="secure-2", metadata=METADATA)

    assert fake.url.startswith("https://")
    assert sorted(fake.rooms) == ["secure", "secure-2"]
    assert len(fake.connections) == 1


def test_https_livekit_with_an_untrusted_certificate_is_refused(tls_livekit, monkeypatch, tmp_path):
    fake, _cert_path = tls_livekit
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))

    with pytest.raises(livekit_client.LiveKitUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        livekit_client.create_room(name="spoofed", metadata=METADATA)

    assert fake.rooms == {}


def test_a_room_call_from_another_thread_goes_through_too(livekit):
    # Request threads (runserver, gthread) have no main-thread runner: livekit-api's aiohttp client.
    errors: list[BaseException] = []

    def call() -> None:
        try:
            livekit_client.create_room(name="from-a-thread", metadata=METADATA)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(timeout=10)

    assert errors == []
    assert list(livekit.rooms) == ["from-a-thread"]
