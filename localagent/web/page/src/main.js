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
const micSelect = $("mic");
const speakerSelect = $("speaker");

let client = null;
let mediaManager = null;
// Whether the user wants to be in a call: kept across reloads, so a reload or a network
// blip reconnects instead of leaving the user to find the button again.
const CALL_KEY = "localagent.call";
let wanted = sessionStorage.getItem(CALL_KEY) === "on";
let retries = 0;
// This tab's id, kept across reloads: the server ends the call a reload left behind
// instead of refusing the new one as busy.
const tab =
  sessionStorage.getItem("localagent.tab") ||
  Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
sessionStorage.setItem("localagent.tab", tab);
let retryTimer = null;
const latencies = [];

function setState(text, kind = "") {
  stateEl.textContent = text;
  stateEl.dataset.kind = kind;
  document.body.dataset.state = kind || text;
}

// A banner says what happened and what to do in words; the raw error, when there is one,
// waits behind "details".
function showBanner(message, fix = "", kind = "error", retry = null, details = "") {
  banner.hidden = !message;
  banner.className = kind;
  banner.querySelector(".msg").textContent = message || "";
  banner.querySelector(".fix").textContent = fix ? `Fix: ${fix}` : "";
  const button = banner.querySelector(".retry");
  button.hidden = !retry;
  button.onclick = retry;
  const more = banner.querySelector(".details");
  more.hidden = !details;
  more.open = false;
  more.querySelector("code").textContent = details || "";
}

const stageNote = $("stage-note");
const FIRST_NOTE = stageNote.innerHTML;
function showStageNote(html) {
  stageNote.hidden = !html;
  stageNote.innerHTML = html || "";
}

// Before a call and after one: the avatar's face at rest, not a black box.
function showPoster(fresh = false) {
  video.srcObject = null;
  if (fresh) video.poster = `/api/avatar-poster?t=${Date.now()}`;
  video.load();
}

// What getUserMedia's refusals mean, in words, with what the user can do about each.
function microphoneProblem(err) {
  const name = err?.name || "";
  const text = String(err?.message || err);
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia || name === "SecurityError") {
    return ["This page may not use a microphone: browsers give it only to secure pages.",
      "open the page at http://127.0.0.1 or http://localhost on this machine"];
  }
  if (name === "NotAllowedError" || /permission|denied/i.test(text)) {
    return ["The browser did not allow the microphone.",
      "allow microphone access for this page (the icon at the left of the address bar, or the site's settings), then press Retry"];
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || /not found/i.test(text)) {
    return ["No microphone was found.", "plug in or turn on a microphone (or pick another under Mic), then press Retry"];
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return ["The microphone could not be started: another program may be using it.",
      "close the program using the microphone, then press Retry"];
  }
  return null;
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

function setWanted(on) {
  wanted = on;
  if (on) sessionStorage.setItem(CALL_KEY, "on");
  else sessionStorage.removeItem(CALL_KEY);
}

function showNode(node) {
  const el = $("flow-node");
  el.hidden = !node;
  el.textContent = node ? `node: ${node}` : "";
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Every part of a turn, in order, so the parts add up to the total.
const LATENCY_PARTS = [
  ["vad_wait", "VAD"], ["stt", "STT"], ["turn_wait", "end of turn"], ["llm", "LLM"],
  ["tools", "tools"], ["tts", "TTS"], ["avatar", "avatar"],
];

function showLatency(turn) {
  latencies.push(turn.voice_to_voice);
  const el = $("latency");
  el.hidden = false;
  const f = (s) => s.toFixed(2);
  const parts = LATENCY_PARTS.filter(([key]) => key !== "tools" || turn.tools > 0)
    .map(([key, label]) => `${label} ${f(turn[key] || 0)}`);
  const rest = turn.voice_to_voice - LATENCY_PARTS.reduce((sum, [key]) => sum + (turn[key] || 0), 0);
  if (Math.abs(rest) >= 0.005) parts.push(`other ${f(rest)}`);
  el.textContent =
    `last turn ${f(turn.voice_to_voice)} s (${parts.join(" + ")}) · ` +
    `median ${f(median(latencies))} s over ${latencies.length}`;
}

function onServerMessage(msg) {
  if (msg?.type === "avatar") showAvatar(msg.live, msg.reason);
  else if (msg?.type === "flow") showNode(msg.node);
  else if (msg?.type === "latency") showLatency(msg);
  else if (msg?.type === "fault") {
    banner.dataset.source = "call";
    const what = {
      LLM: "The language model", STT: "Speech recognition", TTS: "Speech synthesis",
      tools: "A step of the conversation",
    };
    const fixes = {
      LLM: "check that Ollama is running (see the terminal)",
      tools: "say again what you need; if it keeps happening, try a larger model (--llm-model)",
    };
    showBanner(
      `${what[msg.service] || msg.service} failed on that turn. The call goes on.`,
      fixes[msg.service] || "see the terminal running localagent",
      "error",
      null,
      String(msg.error || ""),
    );
  }
}

function fillDevices(select, devices, selectedId) {
  const keep = selectedId ?? select.value;
  select.replaceChildren(new Option("default", ""));
  devices.forEach((d, i) => {
    if (d.deviceId === "default" || d.deviceId === "") return;
    select.append(new Option(d.label || `${select.id} ${i + 1}`, d.deviceId));
  });
  select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
}

async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const all = await navigator.mediaDevices.enumerateDevices();
  fillDevices(micSelect, all.filter((d) => d.kind === "audioinput"));
  fillDevices(speakerSelect, all.filter((d) => d.kind === "audiooutput"));
  speakerSelect.disabled = typeof audio.setSinkId !== "function";
}

let faceProblemShown = false;

function showFace(face) {
  if (!face) return;
  $("drawn-face").hidden = !(face.face === "portrait" && face.chosen_on_page);
  $("avatar-kind").dataset.face = face.face;
  if (face.problem && !faceProblemShown) {
    faceProblemShown = true; // once: the drawn face standing in is not an error
    banner.dataset.source = "call";
    showBanner(`Your avatar photo cannot be used: ${face.problem} The drawn face stands in.`, face.fix || "", "info");
  }
}

async function refreshStatus() {
  try {
    const res = await fetch("/api/status");
    const status = await res.json();
    if (!liveAvatar) $("avatar-kind").textContent = `${status.avatar} avatar`;
    showFace(status.avatar_face);
    $("flow-name").textContent = `flow: ${status.flow}`;
    // The poll takes down only what it put up: a photo's or a call's banner stays.
    if (!status.ollama.ok) {
      banner.dataset.source = "status";
      showBanner(status.ollama.problem, status.ollama.fix);
    } else if (banner.dataset.source === "status") showBanner("");
  } catch {
    banner.dataset.source = "status";
    showBanner("The localagent server is not answering.", "start it again with python -m localagent");
  }
}

async function llmRefusal() {
  try {
    const status = await (await fetch("/api/status")).json();
    return status.ollama?.refuses_calls ? status.ollama : null;
  } catch {
    return null;
  }
}

function scheduleReconnect() {
  if (!wanted || retryTimer) return;
  retries += 1;
  if (retries > 10) {
    setWanted(false);
    showBanner("Could not get the call back.", "check the terminal running localagent, then press Connect");
    return;
  }
  const delay = Math.min(1000 * 2 ** (retries - 1), 8000);
  banner.dataset.source = "call";
  showBanner(`The connection dropped. Reconnecting (try ${retries})…`, "", "info");
  retryTimer = setTimeout(async () => {
    retryTimer = null;
    await connect();
  }, delay);
}

async function connect() {
  connectBtn.disabled = true;
  // Remembered from the first moment: a reload while the call is still being set up
  // (the bot may already be talking) calls again too.
  sessionStorage.setItem(CALL_KEY, "on");
  setState("connecting", "connecting");
  showStageNote("Connecting…");
  mediaManager = new LocalMediaManager();
  if (micSelect.value) mediaManager._selectedMic = { deviceId: micSelect.value };
  // The microphone first, here: the client's own device set-up loses a refusal (the page
  // stayed "initializing" with an uncaught "Permission denied").
  try {
    await mediaManager.initialize();
  } catch (err) {
    mediaManager = null;
    setWanted(false);
    setState("no microphone", "error");
    showStageNote(FIRST_NOTE);
    banner.dataset.source = "call";
    const [message, fix] = microphoneProblem(err) || [`The microphone failed: ${err?.message || err}.`, "check the browser's microphone settings, then press Retry"];
    showBanner(message, fix, "error", () => { showBanner(""); connect(); });
    connectBtn.textContent = "Connect";
    connectBtn.disabled = false;
    return;
  }
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
      onServerMessage,
      onAvailableMicsUpdated: (mics) => fillDevices(micSelect, mics, mediaManager?.selectedMic?.deviceId),
      onAvailableSpeakersUpdated: (speakers) => fillDevices(speakerSelect, speakers),
      // Each sentence arrives twice (when generated, then when spoken): caption it as spoken.
      onBotOutput: (data) => data.spoken && data.aggregated_by !== "word" && caption("bot", data.text),
      onDisconnected: () => {
        setState("disconnected", "disconnected");
        connectBtn.textContent = wanted ? "Cancel" : "Connect";
        connectBtn.disabled = false;
        muteBtn.disabled = true;
        showPoster();
        captions.replaceChildren(); // the last call's words do not linger over the next
        showStageNote(wanted ? "Reconnecting…" : "The call ended. Press <b>Connect</b> to call again.");
        liveAvatar = null;
        showNode(null);
        client = null;
        scheduleReconnect(); // only if the user did not hang up
      },
      onError: (message) => {
        banner.dataset.source = "call";
        showBanner(message?.data?.message || "The call reported an error.");
      },
    },
  });
  try {
    // pipecat's runner flow: POST /start, then the offer to /sessions/{id}/api/offer, with
    // the /start body (this tab's id) handed to the call.
    await client.startBotAndConnect({ endpoint: "/start", requestData: { transport: "webrtc", body: { tab } } });
    setWanted(true);
    if (retries || banner.dataset.source === "photo") showBanner(""); // the photo's news is old now
    retries = 0;
    banner.dataset.source = "";
    connectBtn.textContent = "Disconnect";
    connectBtn.disabled = false;
    muteBtn.disabled = false;
    listDevices();
  } catch (err) {
    setState("disconnected", "error");
    banner.dataset.source = "call";
    client = null;
    showStageNote(wanted ? "Reconnecting…" : FIRST_NOTE);
    const denied = microphoneProblem(err);
    // A reload's or a blip's own earlier call may still be closing: busy is only final
    // when the user asked for a new call.
    const busy = /429/.test(String(err?.message || err)) && !(wanted && retries < 3);
    if (denied) {
      setWanted(false);
      showBanner(denied[0], denied[1], "error", () => { showBanner(""); connect(); });
    } else if (busy) {
      setWanted(false);
      showBanner("Another call is already in progress on this server.", "hang up the other tab, or start localagent with --max-sessions 2");
    } else if (wanted) {
      scheduleReconnect();
    } else {
      setWanted(false);
      // A call the server refuses because it cannot work (a model without the tools the
      // flow needs) says why, with the fix, rather than "could not connect".
      const llm = await llmRefusal();
      if (llm) {
        banner.dataset.source = "status";
        showBanner(llm.problem, llm.fix);
      } else {
        showBanner("Could not connect to localagent.", "check the terminal running localagent", "error", null, String(err?.message || err));
      }
    }
    connectBtn.textContent = wanted ? "Cancel" : "Connect";
    connectBtn.disabled = false;
  }
}

connectBtn.addEventListener("click", async () => {
  if (client && client.connected) {
    setWanted(false);
    connectBtn.disabled = true;
    await client.disconnect();
    client = null;
  } else if (wanted && !client) {
    // "Cancel" while reconnecting
    setWanted(false);
    clearTimeout(retryTimer);
    retryTimer = null;
    retries = 0;
    showBanner("");
    connectBtn.textContent = "Connect";
  } else {
    await connect();
  }
});

micSelect.addEventListener("change", async () => {
  if (client && client.connected) await client.updateMic(micSelect.value);
});

speakerSelect.addEventListener("change", async () => {
  if (typeof audio.setSinkId === "function") await audio.setSinkId(speakerSelect.value);
});
navigator.mediaDevices?.addEventListener?.("devicechange", listDevices);

muteBtn.addEventListener("click", () => {
  if (!client) return;
  const enable = !client.isMicEnabled;
  client.enableMic(enable);
  muteBtn.textContent = enable ? "Mute" : "Unmute";
  muteBtn.setAttribute("aria-pressed", String(!enable));
});

// A photo for the local avatar: sent to this machine's server only, used from the next call.
$("photo").addEventListener("change", async (event) => {
  const file = event.target.files?.[0];
  event.target.value = "";
  if (!file) return;
  banner.dataset.source = "photo";
  showBanner("Finding the face in the photo…", "", "info");
  try {
    const res = await fetch("/api/avatar-image", {
      method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const [msg, fix] = String(body.detail || `the server answered ${res.status}`).split(" Fix: ");
      showBanner(`That photo cannot be the avatar: ${msg}`, (fix || "").replace(/\.$/, ""));
      return;
    }
    showFace(body);
    if (!(client && client.connected)) showPoster(true);
    const when = client && client.connected ? "from the next call" : "when you connect";
    showBanner(`The avatar will be your photo ${when}.`, "", "info");
  } catch (err) {
    showBanner(`The photo could not be sent: ${err?.message || err}`, "check the terminal running localagent");
  }
});

$("drawn-face").addEventListener("click", async () => {
  const res = await fetch("/api/avatar-image", { method: "DELETE" });
  if (res.ok) {
    showFace(await res.json());
    if (!(client && client.connected)) showPoster(true);
    banner.dataset.source = "photo";
    showBanner("The photo is forgotten: the next call uses the drawn face.", "", "info");
  }
});

setState("disconnected", "disconnected");
refreshStatus();
listDevices();
setInterval(refreshStatus, 5000);
if (wanted) connect(); // the page was reloaded mid-call
window.localagent = { get client() { return client; } };
