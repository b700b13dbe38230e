"""The agents API's actions that talk to an agent: /api/v1/agents/{id}/chat and /test-session.

They sit under the agent's URL (and in the schema under "agents", as before), but they write a
Call and use LiveKit, which telephony_app owns; voiceplatform/urls.py routes them to this viewset
with the same URL names (api-agent-chat, api-agent-test-session).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents_app.models import Agent
from agents_app.serializers import AgentSerializer
from telephony_app import browser_sessions, chat, livekit_client
from telephony_app.api import CallSerializer
from voiceplatform.actor import Actor
from voiceplatform.api_base import TenantScopedViewSet


class ChatRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["start", "send", "end"])
    chatId = serializers.UUIDField(required=False, help_text="The chat's id, from start; needed by send and end.")
    message = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=f"What the user says (send only); 1 to {chat.MAX_MESSAGE_CHARS} characters.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["action"] in ("send", "end") and "chatId" not in data:
            raise serializers.ValidationError({"chatId": f"Give the chat's id to {data['action']} it."})
        if data["action"] == "send" and "message" not in data:
            raise serializers.ValidationError({"message": "Give the message to send."})
        return data


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=["user", "assistant", "tool", "system"],
        help_text="tool: a tool the agent called; system: what happened on the (simulated) line, or an error",
    )
    text = serializers.CharField()
    at = serializers.DateTimeField()
    dryRun = serializers.BooleanField(help_text='A telephony action not carried out: "would transfer to +1…"')
    error = serializers.BooleanField(help_text="The language model provider failed; the chat goes on")


ChatResponse = inline_serializer(
    "ChatResponse",
    fields={
        "chatId": serializers.UUIDField(),
        "messages": ChatMessageSerializer(many=True, help_text="start: the greeting; send: the new turns"),
        "ended": serializers.BooleanField(help_text="True once the agent ended or transferred the conversation"),
        "error": serializers.CharField(allow_null=True, help_text="The provider's failure, when the model failed"),
    },
)
ChatEndResponse = inline_serializer(
    "ChatEndResponse",
    fields={"chatId": serializers.UUIDField(), "ended": serializers.BooleanField(), "call": CallSerializer()},
)
_CHAT_200 = PolymorphicProxySerializer(
    component_name="ChatTurnOrEnd",
    serializers=[ChatResponse, ChatEndResponse],
    resource_type_field_name=None,
)
ChatNotReadyResponse = inline_serializer(
    "ChatNotReadyResponse",
    fields={"detail": serializers.CharField(), "problems": serializers.ListField(child=serializers.CharField())},
)
ChatTimedOutResponse = inline_serializer(
    "ChatTimedOutResponse",
    fields={
        "detail": serializers.CharField(),
        "problems": serializers.ListField(child=serializers.CharField()),
        "chatId": serializers.UUIDField(),
        "messages": ChatMessageSerializer(many=True, help_text="The turns recorded: the message and the failure"),
        "ended": serializers.BooleanField(),
        "error": serializers.CharField(allow_null=True),
    },
)
_CHAT_ID = "5d0c1c8e-3f7a-4f0e-9a57-0c2f4b1f7e21"
_CHAT_EXAMPLES = [
    OpenApiExample("Start a chat", request_only=True, value={"action": "start"}),
    OpenApiExample(
        "Send a message",
        request_only=True,
        value={"action": "send", "chatId": _CHAT_ID, "message": "Can I talk to a person?"},
    ),
    OpenApiExample("End the chat", request_only=True, value={"action": "end", "chatId": _CHAT_ID}),
    OpenApiExample(
        "Started (201)",
        response_only=True,
        status_codes=["201"],
        value={
            "chatId": _CHAT_ID,
            "messages": [
                {
                    "role": "assistant",
                    "text": "Hi, this is Maya from Acme. How can I help?",
                    "at": "2026-11-25T17:25:00.120+00:00",
                    "dryRun": False,
                    "error": False,
                }
            ],
            "ended": False,
            "error": None,
        },
    ),
    OpenApiExample(
        "Sent: the agent transfers (200)",
        response_only=True,
        status_codes=["200"],
        value={
            "chatId": _CHAT_ID,
            "messages": [
                {
                    "role": "user",
                    "text": "Can I talk to a person?",
                    "at": "2026-11-25T17:25:09.001+00:00",
                    "dryRun": False,
                    "error": False,
                },
                {
                    "role": "tool",
                    "text": "transfer_to_human()",
                    "at": "2026-11-25T17:25:09.840+00:00",
                    "dryRun": False,
                    "error": False,
                },
                {
                    "role": "assistant",
                    "text": "One moment, I'm transferring you now.",
                    "at": "2026-11-25T17:25:09.842+00:00",
                    "dryRun": False,
                    "error": False,
                },
                {
                    "role": "system",
                    "text": "would transfer to +18005551234",
                    "at": "2026-11-25T17:25:09.850+00:00",
                    "dryRun": True,
                    "error": False,
                },
            ],
            "ended": True,
            "error": None,
        },
    ),
    OpenApiExample(
        "Language model not ready (400)",
        response_only=True,
        status_codes=["400"],
        value={
            "detail": "The agent's language model is not ready: "
            "No OpenAI key for the language model: add one under Provider keys.",
            "problems": ["No OpenAI key for the language model: add one under Provider keys."],
        },
    ),
]


TestSessionResponse = inline_serializer(
    "TestSessionResponse",
    fields={
        "room": serializers.CharField(help_text="The LiveKit room the agent was dispatched to"),
        "token": serializers.CharField(help_text="A join token for that room only"),
        "url": serializers.CharField(help_text="The LiveKit URL for livekit-client's room.connect(url, token)"),
        "callId": serializers.UUIDField(help_text="The test call in /api/v1/calls"),
        "expiresAt": serializers.DateTimeField(help_text="When the token stops letting anyone join"),
    },
)
DetailResponse = inline_serializer("DetailResponse", fields={"detail": serializers.CharField()})


# An agent's text chat and browser test call (detail actions only: the agent itself is AgentViewSet's).
# No class docstring: DRF's OPTIONS answer shows it as the description, and AgentViewSet had none.
class AgentTalkViewSet(TenantScopedViewSet):
    model = Agent
    # What OPTIONS describes (DRF's metadata asks get_serializer()): the agent, as when these actions
    # were AgentViewSet's; their request and response bodies are documented with extend_schema.
    serializer_class = AgentSerializer

    @extend_schema(
        summary="Text chat with the agent (start, send a message, end)",
        description=(
            "Runs the agent as in a call (same instructions, greeting and tools, its own language model with this "
            "tenant's key) on text, with no LiveKit server. Telephony tools are dry runs: the reply says what would "
            'happen ("would transfer to +1…", "would end the call") and the conversation ends. Each chat is a '
            "call with direction `chat` in /api/v1/calls. `start` answers 201 with the greeting; `send` answers 200 "
            "with the new turns: a provider failure is one of them (`error: true`, also in `error`), the chat goes "
            "on. 400: bad body, empty or too long message, or a language model that cannot be built (`problems` "
            "names the missing key); 404: unknown agent or chat; 409: the chat has ended; 504: the model did not "
            "answer within the web request budget (WEB_REQUEST_BUDGET_SECONDS); the turn is recorded as failed "
            "and the chat goes on."
        ),
        request=ChatRequestSerializer,
        responses={
            201: ChatResponse,
            200: _CHAT_200,
            400: ChatNotReadyResponse,
            404: None,
            409: None,
            504: ChatTimedOutResponse,
        },
        examples=_CHAT_EXAMPLES,
    )
    @action(detail=True, methods=["post"])
    def chat(self, request: Request, id: str) -> Response:
        agent = self.get_object()
        body = ChatRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if data["action"] == "start":
                result = chat.chat_start(tenant=self.tenant, agent=agent, actor=Actor.from_request(request))
                return _chat_timed_out(result) or Response(_chat_response(result), status=status.HTTP_201_CREATED)
            call = chat.chat_get(tenant=self.tenant, agent=agent, code=data["chatId"])
            if data["action"] == "send":
                result = chat.chat_send(tenant=self.tenant, call=call, message=data["message"])
                return _chat_timed_out(result) or Response(_chat_response(result))
            call = chat.chat_end(tenant=self.tenant, call=call)
            return Response({"chatId": str(call.code), "ended": True, "call": CallSerializer(call).data})
        except chat.ChatNotReady as exc:
            return Response({"detail": str(exc), "problems": list(exc.problems)}, status=status.HTTP_400_BAD_REQUEST)
        except chat.NotThisChat as exc:
            raise serializers.ValidationError({"chatId": [str(exc)]}) from None
        except chat.ChatEnded as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except chat.ChatError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)

    @extend_schema(
        summary="Start a browser voice test session",
        description=(
            "Creates a test call and a LiveKit room with the agent dispatched, and returns a token that lets a "
            "browser join exactly that room until `expiresAt`. 400: the agent is inactive or not ready (`problems` "
            "says what to fix); 502: LiveKit failed (the call is marked failed); 503: LiveKit is not configured."
        ),
        request=None,
        responses={
            201: TestSessionResponse,
            400: ChatNotReadyResponse,
            404: None,
            502: DetailResponse,
            503: DetailResponse,
        },
    )
    @action(detail=True, methods=["post"], url_path="test-session")
    def test_session(self, request: Request, id: str) -> Response:
        agent = self.get_object()
        try:
            session = browser_sessions.browser_session_start(
                tenant=self.tenant, agent=agent, actor=Actor.from_request(request)
            )
        except livekit_client.LiveKitNotConfigured as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        except browser_sessions.BrowserSessionNotReady as exc:
            return Response({"detail": str(exc), "problems": exc.problems}, status=status.HTTP_400_BAD_REQUEST)
        except livekit_client.LiveKitError as exc:
            return Response({"detail": f"Could not start the test session: {exc}"}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(session.as_json(), status=status.HTTP_201_CREATED)


def _chat_timed_out(result: chat.ChatResult) -> Response | None:
    """504 when the model did not answer within WEB_REQUEST_BUDGET_SECONDS; the chat is kept and goes on."""
    if not result.timed_out:
        return None
    seconds = settings.WEB_REQUEST_BUDGET_SECONDS
    document = {
        "detail": f"The agent's language model did not answer within {seconds} seconds.",
        "problems": [
            "The provider is slow or overloaded: send the message again, or choose a faster model.",
            "The chat is kept: the unanswered turn is in its transcript and the next message continues it.",
        ],
        **_chat_response(result),
    }
    return Response(document, status=status.HTTP_504_GATEWAY_TIMEOUT)


def _chat_response(result: chat.ChatResult) -> dict[str, Any]:
    return {
        "chatId": str(result.call.code),
        "messages": list(chat.public_messages(result.messages)),
        "ended": result.ended,
        "error": result.error or None,
    }
