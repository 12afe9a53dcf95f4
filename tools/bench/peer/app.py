"""The peer: the guide's approach to the survey webhook, in Python.

FastAPI on uvicorn, confluent-kafka (librdkafka underneath, like ours). Per
request it does what survey-alerts' ingest does: check the HMAC-SHA256
signature (`X-Signature-256: sha256=<hex>`), parse the JSON, validate the
fields (event type, ids, RFC 3339 `submittedAt` within bounds, CSAT 1..5,
string lengths), produce the record keyed by the response id with
`acks=all` and idempotence, and answer 202 only after the delivery report
arrived. The record is the validated JSON (no Avro, no registry), so the
peer does less work per request than ingest does.

Run by survey-bench (`cargo xtask bench`) with one uvicorn worker per core:

    python -m uvicorn app:app --app-dir tools/bench/peer --workers 2 --port 8000

Environment: KAFKA_BOOTSTRAP_SERVERS, PEER_TOPIC, WEBHOOK_SECRET.
"""

import asyncio
import hashlib
import hmac
import json
import os
import threading
import time
from datetime import datetime

from confluent_kafka import KafkaException, Producer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

SECRET = os.environ.get("WEBHOOK_SECRET", "").encode()
TOPIC = os.environ.get("PEER_TOPIC", "peer.survey-responses.raw")
MAX_ID_LEN = 128
MAX_COMMENT_LEN = 8 * 1024
MAX_NAME_LEN = 256
MAX_FUTURE_MS = 300_000
MAX_AGE_MS = 7 * 24 * 3_600_000

app = FastAPI()
_producer = None
_poller = None
_running = threading.Event()


class Invalid(Exception):
    """A field failed validation."""


def _str(obj, key, path, max_len, required=True):
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        if required:
            raise Invalid(f"{path}: required")
        return None
    if not isinstance(value, str) or len(value) > max_len or (required and not value):
        raise Invalid(f"{path}: must be a string of at most {max_len} characters")
    return value


def validate(body, received_ms):
    """The same checks as survey_ingest::webhook::parse_survey."""
    if not isinstance(body, dict):
        raise Invalid("$: must be an object")
    if _str(body, "event", "event", MAX_ID_LEN) != "survey.response.created":
        raise Invalid("event: unsupported")
    data = body.get("data")
    if not isinstance(data, dict):
        raise Invalid("data: required")
    response_id = _str(data, "id", "data.id", MAX_ID_LEN)
    _str(data, "interactionId", "data.interactionId", MAX_ID_LEN)
    _str(data, "surveyId", "data.surveyId", MAX_ID_LEN, required=False)
    submitted = _str(data, "submittedAt", "data.submittedAt", 64)
    try:
        submitted_ms = int(datetime.fromisoformat(submitted.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError as err:
        raise Invalid("data.submittedAt: must be RFC 3339") from err
    if submitted_ms > received_ms + MAX_FUTURE_MS or submitted_ms < received_ms - MAX_AGE_MS:
        raise Invalid("data.submittedAt: out of bounds")
    answers = data.get("answers")
    if not isinstance(answers, dict):
        raise Invalid("data.answers: required")
    csat = answers.get("q1_csat")
    if not isinstance(csat, int) or isinstance(csat, bool) or not 1 <= csat <= 5:
        raise Invalid("data.answers.q1_csat: must be an integer from 1 to 5")
    _str(answers, "q2_comments", "data.answers.q2_comments", MAX_COMMENT_LEN, required=False)
    if any("\0" in key for key in answers):
        raise Invalid("data.answers: NUL in a key")
    routing = data.get("routingData")
    if routing is not None:
        if not isinstance(routing, dict):
            raise Invalid("data.routingData: must be an object")
        _str(routing, "queueId", "data.routingData.queueId", MAX_ID_LEN, required=False)
        _str(routing, "agentId", "data.routingData.agentId", MAX_ID_LEN, required=False)
        _str(routing, "agentName", "data.routingData.agentName", MAX_NAME_LEN, required=False)
    return response_id


def _poll_loop():
    while _running.is_set():
        _producer.poll(0.05)


@app.on_event("startup")
def _start():
    global _producer, _poller
    _producer = Producer(
        {
            "bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.kbytes": 65536,
        }
    )
    _running.set()
    _poller = threading.Thread(target=_poll_loop, daemon=True)
    _poller.start()


@app.on_event("shutdown")
def _stop():
    _running.clear()
    if _producer is not None:
        _producer.flush(10)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/webhooks/survey")
async def webhook(request: Request):
    raw = await request.body()
    given = request.headers.get("x-signature-256", "")
    expected = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given, expected):
        return Response(status_code=401)
    if not request.headers.get("content-type", "").startswith("application/json"):
        return Response(status_code=415)
    try:
        body = json.loads(raw)
    except ValueError:
        return Response(status_code=400)
    try:
        response_id = validate(body, int(time.time() * 1000))
    except Invalid as err:
        return JSONResponse({"error": str(err)}, status_code=422)

    loop = asyncio.get_running_loop()
    delivered = loop.create_future()

    def on_delivery(err, _msg):
        if err is not None:
            loop.call_soon_threadsafe(_settle, delivered, KafkaException(err))
        else:
            loop.call_soon_threadsafe(_settle, delivered, None)

    try:
        _producer.produce(TOPIC, key=response_id.encode(), value=raw, on_delivery=on_delivery)
    except BufferError:
        return Response(status_code=503, headers={"retry-after": "1"})
    try:
        await delivered
    except KafkaException:
        return Response(status_code=503, headers={"retry-after": "1"})
    return JSONResponse({"id": response_id, "status": "accepted"}, status_code=202)


def _settle(future, error):
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
