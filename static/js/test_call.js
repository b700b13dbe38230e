// The "Test agent" page (telephony_app/templates/telephony_app/agent_test.html): a browser voice call with
// the agent through LiveKit, using the official livekit-client SDK (static/vendor, window.LivekitClient).
//
// 1. "Start call" POSTs the page's form (session login + CSRF token) for {room, token, url, callId}.
// 2. room.connect(url, token), then setMicrophoneEnabled(true); the agent's audio tracks are attached.
// 3. What livekit-agents 1.x publishes is shown as it happens: the agent participant's `lk.agent.state`
//    attribute (initializing / listening / thinking / speaking; active speakers as a fallback) and the
//    transcript, sent as text streams on topic "lk.transcription" with attributes `lk.segment_id` and
//    `lk.transcription_final`. The agent's segments arrive as one stream of deltas; the caller's as a
//    new stream with the whole text on every update; both replace the line with the same segment id.
// 4. "Hang up" only leaves the room: the worker and LiveKit's webhooks end the call in the call log.
(function () {
  "use strict";

  const panel = document.getElementById("test-call");
  if (!panel) return;
  const form = document.getElementById("start-call-form");
  const startButton = document.getElementById("start-call");
  const hangUpButton = document.getElementById("hang-up");
  const enableAudioButton = document.getElementById("enable-audio");
  const connectionBadge = document.getElementById("connection-state");
  const agentBadge = document.getElementById("agent-state");
  const errorLine = document.getElementById("call-error");
  const transcript = document.getElementById("transcript");
  const transcriptEmpty = document.getElementById("transcript-empty");
  const audioBox = document.getElementById("agent-audio");

  const AGENT_STATE = "lk.agent.state";
  const TOPIC = "lk.transcription";
  const SEGMENT_ID = "lk.segment_id";
  const FINAL = "lk.transcription_final";
  const CONNECTION_LABELS = {
    idle: "Not connected",
    requesting: "Starting the call…",
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting…",
    signalReconnecting: "Reconnecting…",
    disconnected: "Disconnected",
    failed: "Connection failed",
  };
  const AGENT_LABELS = {
    absent: "Not in the call",
    waiting: "Waiting for the agent to join…",
    initializing: "Getting ready…",
    listening: "Listening",
    thinking: "Thinking…",
    speaking: "Speaking",
  };

  const LK = window.LivekitClient;
  let room = null;
  let agentIdentity = null;
  let agentState = "absent";
  let endedByUs = false;

  function setConnection(state) {
    connectionBadge.textContent = CONNECTION_LABELS[state] || state;
    connectionBadge.className = "badge state-" + state;
    panel.dataset.connection = state;
  }

  function setAgent(state) {
    agentState = state;
    agentBadge.textContent = AGENT_LABELS[state] || state;
    agentBadge.className = "badge state-" + state;
    panel.dataset.agent = state;
  }

  function showError(message) {
    errorLine.textContent = message;
    errorLine.hidden = !message;
  }

  function setBusy(inCall) {
    startButton.disabled = inCall;
    startButton.hidden = inCall;
    hangUpButton.hidden = !inCall;
  }

  if (!LK) {
    setConnection("failed");
    showError(
      "The LiveKit browser library did not load (static/vendor/livekit-client.umd.js): an operator runs `make` to install it.",
    );
    startButton.disabled = true;
    return;
  }

  // Plain words for the failures a person can do something about.
  function explainConnectError(error, url) {
    const ConnectionErrorReason = LK.ConnectionErrorReason || {};
    if (error && error.reason === ConnectionErrorReason.NotAllowed) {
      const status = error.status ? " (HTTP " + error.status + ")" : "";
      return (
        "LiveKit at " + url + " refused the access token" + status +
        ": its API key and secret must match LIVEKIT_API_KEY and LIVEKIT_API_SECRET on this server."
      );
    }
    if (error && error.reason === ConnectionErrorReason.Cancelled) {
      return "The call was cancelled before it connected.";
    }
    return (
      "Could not reach LiveKit at " + url + ". Check that the LiveKit server is running and that this " +
      "browser can reach that address (LIVEKIT_PUBLIC_URL, or LIVEKIT_URL, must be the address browsers use)." +
      (error && error.message ? " Details: " + error.message : "")
    );
  }

  function explainMicrophoneError(error) {
    const name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "Microphone access was denied, so the agent cannot hear you: allow the microphone for this site in the browser and start the call again.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "No microphone was found: connect one and start the call again.";
    }
    if (name === "NotReadableError") {
      return "The microphone is in use by another application or could not be opened.";
    }
    return "The microphone could not be started" + (error && error.message ? ": " + error.message : ".");
  }

  // Transcript ------------------------------------------------------------------------------

  const lines = new Map(); // segment id -> <li>

  function transcriptLine(segmentId, isUser) {
    let line = lines.get(segmentId);
    if (!line) {
      line = document.createElement("li");
      line.className = "chat-turn " + (isUser ? "user" : "assistant") + " interim";
      line.dataset.segment = segmentId;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = isUser ? "You" : panel.dataset.agentName || "Agent";
      const said = document.createElement("span");
      said.className = "said";
      line.append(who, said);
      transcript.append(line);
      lines.set(segmentId, line);
      transcriptEmpty.hidden = true;
    }
    return line;
  }

  async function onTranscription(reader, participantInfo) {
    const attributes = reader.info.attributes || {};
    const segmentId = attributes[SEGMENT_ID] || reader.info.id;
    // The agent publishes the caller's words on the caller's behalf: sender = our own identity.
    const isUser = room && participantInfo.identity === room.localParticipant.identity;
    const line = transcriptLine(segmentId, isUser);
    const said = line.querySelector(".said");
    let text = "";
    try {
      for await (const chunk of reader) {
        text += chunk;
        said.textContent = text;
        line.scrollIntoView({ block: "nearest" });
      }
    } catch (error) {
      console.warn("transcription stream ended early", error);
    }
    if (attributes[FINAL] === "true" || !isUser) {
      line.classList.remove("interim");
    }
  }

  // Agent state -----------------------------------------------------------------------------

  function isAgent(participant) {
    return Boolean(participant && (participant.isAgent || (participant.attributes || {})[AGENT_STATE]));
  }

  function readAgentState(participant) {
    if (!isAgent(participant)) return;
    agentIdentity = participant.identity;
    const state = (participant.attributes || {})[AGENT_STATE];
    if (state) setAgent(state);
    else if (agentState === "absent" || agentState === "waiting") setAgent("initializing");
  }

  function onActiveSpeakers(speakers) {
    // Only a fallback for agents that do not publish lk.agent.state.
    if (!agentIdentity || !room) return;
    const agent = room.remoteParticipants.get(agentIdentity);
    if (agent && (agent.attributes || {})[AGENT_STATE]) return;
    const speaking = speakers.some((p) => p.identity === agentIdentity);
    setAgent(speaking ? "speaking" : "listening");
  }

  // Audio -----------------------------------------------------------------------------------

  function onTrackSubscribed(track, publication, participant) {
    if (track.kind !== LK.Track.Kind.Audio) return;
    const element = track.attach();
    element.dataset.participant = participant.identity;
    audioBox.append(element);
  }

  function onTrackUnsubscribed(track) {
    track.detach().forEach((element) => element.remove());
  }

  function onAudioPlaybackChanged() {
    enableAudioButton.hidden = !room || room.canPlaybackAudio;
  }

  enableAudioButton.addEventListener("click", () => {
    if (room) room.startAudio().then(onAudioPlaybackChanged);
  });

  // The call --------------------------------------------------------------------------------

  function onDisconnected(reason) {
    const reasons = LK.DisconnectReason || {};
    setConnection("disconnected");
    setAgent("absent");
    setBusy(false);
    audioBox.replaceChildren();
    enableAudioButton.hidden = true;
    if (!endedByUs && reason !== undefined && reason !== reasons.CLIENT_INITIATED) {
      if (reason === reasons.ROOM_DELETED) {
        showError("The call ended: the agent hung up or the room was closed.");
      } else {
        const name = reasons[reason] || String(reason);
        showError("The call was disconnected by LiveKit (" + name + ").");
      }
    }
    room = null;
  }

  async function requestSession() {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    let body = {};
    try {
      body = await response.json();
    } catch (error) {
      body = {};
    }
    if (response.status === 403) {
      throw new Error("You may not start test calls here (your role, or your session expired: reload the page).");
    }
    if (!response.ok) {
      // 400 (not ready: the detail lists the problems), 502 (LiveKit failed), 503 (not configured).
      throw new Error(body.detail || "The server could not start the call (HTTP " + response.status + ").");
    }
    return body;
  }

  async function startCall(event) {
    event.preventDefault();
    showError("");
    endedByUs = false;
    transcript.replaceChildren();
    lines.clear();
    transcriptEmpty.hidden = false;
    setBusy(true);
    setConnection("requesting");
    let session;
    try {
      session = await requestSession();
    } catch (error) {
      setConnection("failed");
      showError(error.message);
      setBusy(false);
      return;
    }
    panel.dataset.callId = session.callId;

    room = new LK.Room();
    room.registerTextStreamHandler(TOPIC, onTranscription);
    room
      .on(LK.RoomEvent.ConnectionStateChanged, setConnection)
      .on(LK.RoomEvent.Disconnected, onDisconnected)
      .on(LK.RoomEvent.TrackSubscribed, onTrackSubscribed)
      .on(LK.RoomEvent.TrackUnsubscribed, onTrackUnsubscribed)
      .on(LK.RoomEvent.ParticipantConnected, readAgentState)
      .on(LK.RoomEvent.ParticipantAttributesChanged, (changed, participant) => readAgentState(participant))
      .on(LK.RoomEvent.ParticipantDisconnected, (participant) => {
        if (participant.identity === agentIdentity) {
          agentIdentity = null;
          setAgent("absent");
        }
      })
      .on(LK.RoomEvent.ActiveSpeakersChanged, onActiveSpeakers)
      .on(LK.RoomEvent.AudioPlaybackStatusChanged, onAudioPlaybackChanged)
      .on(LK.RoomEvent.MediaDevicesError, (error) => showError(explainMicrophoneError(error)));

    setConnection("connecting");
    try {
      await room.connect(session.url, session.token);
    } catch (error) {
      const message = explainConnectError(error, session.url);
      room = null;
      setConnection("failed");
      setBusy(false);
      showError(message);
      return;
    }
    setAgent("waiting");
    room.remoteParticipants.forEach(readAgentState);
    try {
      await room.localParticipant.setMicrophoneEnabled(true);
    } catch (error) {
      showError(explainMicrophoneError(error));
    }
    onAudioPlaybackChanged();
  }

  function hangUp() {
    endedByUs = true;
    if (room) room.disconnect();
  }

  form.addEventListener("submit", startCall);
  hangUpButton.addEventListener("click", hangUp);
  window.addEventListener("pagehide", hangUp);
})();
