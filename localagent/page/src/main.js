// The localagent call page: pipecat's JS client over SmallWebRTC to this machine's server.
import { PipecatClient } from "@pipecat-ai/client-js";
import { SmallWebRTCTransport } from "@pipecat-ai/small-webrtc-transport";
import { LocalMediaManager } from "./media.js";

const $ = (id) => document.getElementById(id);
const video = $("avatar");
const audio = $("bot-audio");
const connectBtn = $("connect");
const muteBtn = $("mute");
const stateEl = $("state");
const banner = $("banner");
const captions = $("captions");

let client = null;

function setState(text, kind = "") {
  stateEl.textContent = text;
  stateEl.dataset.kind = kind;
  document.body.dataset.state = kind || text;
}

function showBanner(message, fix = "") {
  banner.hidden = !message;
  banner.querySelector(".msg").textContent = message || "";
  banner.querySelector(".fix").textContent = fix ? `Fix: ${fix}` : "";
}

// One line per turn: a speaker's sentences join the line until the other one speaks.
function caption(who, text) {
  if (!text) return;
  const last = captions.lastElementChild;
  if (last && last.className === who) {
    last.textContent += ` ${text.trim()}`;
  } else {
    const line = document.createElement("p");
    line.className = who;
    line.textContent = `${who === "user" ? "You" : "Avatar"}: ${text.trim()}`;
    captions.append(line);
  }
  while (captions.childElementCount > 3) captions.firstElementChild.remove();
}

function attachTrack(track, participant) {
  if (participant && participant.local) return;
  if (track.kind === "video") {
    video.srcObject = new MediaStream([track]);
    video.play().catch(() => {});
  } else if (track.kind === "audio") {
    audio.srcObject = new MediaStream([track]);
    audio.play().catch(() => {});
  }
}

let liveAvatar = null; // what the call reports; the status poll only fills in before a call

function showAvatar(live, reason) {
  liveAvatar = live;
  const el = $("avatar-kind");
  el.textContent = live === "tavus" ? "Tavus avatar" : "local avatar";
  el.title = reason || "";
  if (live === "local" && reason && !reason.startsWith("no Tavus key")) {
    banner.dataset.source = "call";
    showBanner(`Tavus avatar unavailable: ${reason}. The call goes on with the local avatar.`);
  }
}

async function refreshStatus() {
  try {
    const res = await fetch("/api/status");
    const status = await res.json();
    if (!liveAvatar) $("avatar-kind").textContent = `${status.avatar} avatar`;
    $("flow-name").textContent = `flow: ${status.flow}`;
    if (!status.ollama.ok) showBanner(status.ollama.problem, status.ollama.fix);
    else if (banner.dataset.source !== "call") showBanner("");
  } catch {
    showBanner("The localagent server is not answering.", "start it again with python -m localagent");
  }
}

async function connect() {
  connectBtn.disabled = true;
  setState("connecting", "connecting");
  const mediaManager = new LocalMediaManager();
  const transport = new SmallWebRTCTransport({ mediaManager });
  mediaManager.transport = transport;
  client = new PipecatClient({
    transport,
    enableMic: true,
    enableCam: false,
    callbacks: {
      onTransportStateChanged: (state) => setState(state, state),
      onTrackStarted: attachTrack,
      onBotReady: () => setState("connected", "ready"),
      onUserTranscript: (data) => data.final && caption("user", data.text),
      onServerMessage: (msg) => msg?.type === "avatar" && showAvatar(msg.live, msg.reason),
      // Each sentence arrives twice (when generated, then when spoken): caption it as spoken.
      onBotOutput: (data) => data.spoken && data.aggregated_by !== "word" && caption("bot", data.text),
      onDisconnected: () => {
        setState("disconnected", "disconnected");
        connectBtn.textContent = "Connect";
        connectBtn.disabled = false;
        muteBtn.disabled = true;
        video.srcObject = null;
        liveAvatar = null;
      },
      onError: (message) => {
        banner.dataset.source = "call";
        showBanner(message?.data?.message || "The call reported an error.");
      },
    },
  });
  try {
    await client.connect({ webrtcRequestParams: { endpoint: "/api/offer" } });
    connectBtn.textContent = "Disconnect";
    connectBtn.disabled = false;
    muteBtn.disabled = false;
  } catch (err) {
    setState("disconnected", "error");
    banner.dataset.source = "call";
    const denied = err && (err.name === "NotAllowedError" || /permission/i.test(String(err)));
    showBanner(
      denied ? "The browser did not allow the microphone." : `Could not connect: ${err?.message || err}`,
      denied ? "allow microphone access for this page and connect again" : "check the terminal running localagent",
    );
    connectBtn.textContent = "Connect";
    connectBtn.disabled = false;
    client = null;
  }
}

connectBtn.addEventListener("click", async () => {
  if (client && client.connected) {
    connectBtn.disabled = true;
    await client.disconnect();
    client = null;
  } else {
    await connect();
  }
});

muteBtn.addEventListener("click", () => {
  if (!client) return;
  const enable = !client.isMicEnabled;
  client.enableMic(enable);
  muteBtn.textContent = enable ? "Mute" : "Unmute";
  muteBtn.setAttribute("aria-pressed", String(!enable));
});

setState("disconnected", "disconnected");
refreshStatus();
setInterval(refreshStatus, 5000);
window.localagent = { get client() { return client; } };
