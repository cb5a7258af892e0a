// Microphone handling with plain getUserMedia.
//
// The SmallWebRTC transport's default media manager drives devices through daily-js,
// which downloads Daily's call bundle from c.daily.co at run time. A local-first page
// must not reach out to a third party (and must work offline), so this manager does
// the same job with the browser's own APIs.
import { WavMediaManager } from "@pipecat-ai/small-webrtc-transport";

// transport-lib's abstract MediaManager is not exported; it is WavMediaManager's parent.
const MediaManager = Object.getPrototypeOf(WavMediaManager);

export class LocalMediaManager extends MediaManager {
  constructor() {
    super();
    this._stream = null;
    this._selectedMic = {};
    this._selectedSpeaker = {};
    this.transport = null; // set by the page so a new mic can replace the sent track
  }

  get _track() {
    return this._stream ? this._stream.getAudioTracks()[0] : undefined;
  }

  async _open(deviceId) {
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (deviceId) audio.deviceId = { exact: deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
    const track = stream.getAudioTracks()[0];
    track.enabled = this._micEnabled;
    if (this._stream) this._stream.getTracks().forEach((t) => t.stop());
    this._stream = stream;
    const settings = track.getSettings();
    const mics = await this.getAllMics();
    this._selectedMic = mics.find((m) => m.deviceId === settings.deviceId) || mics[0] || {};
    this._callbacks.onAvailableMicsUpdated?.(mics);
    this._callbacks.onMicUpdated?.(this._selectedMic);
    this._callbacks.onAvailableSpeakersUpdated?.(await this.getAllSpeakers());
    return track;
  }

  async initialize() {
    if (!this._stream) await this._open(this._selectedMic.deviceId);
  }

  async connect() {
    await this.initialize();
  }

  async disconnect() {
    if (this._stream) this._stream.getTracks().forEach((t) => t.stop());
    this._stream = null;
  }

  async _devices(kind) {
    const all = await navigator.mediaDevices.enumerateDevices();
    return all.filter((d) => d.kind === kind);
  }

  getAllMics() { return this._devices("audioinput"); }
  getAllCams() { return Promise.resolve([]); }
  getAllSpeakers() { return this._devices("audiooutput"); }

  async updateMic(micId) {
    const track = await this._open(micId);
    const pc = this.transport?.pc;
    if (pc) await this.transport.getAudioTransceiver().sender.replaceTrack(track);
  }

  updateCam() {}

  async updateSpeaker(speakerId) {
    const speakers = await this.getAllSpeakers();
    this._selectedSpeaker = speakers.find((s) => s.deviceId === speakerId) || {};
    this._callbacks.onSpeakerUpdated?.(this._selectedSpeaker);
  }

  get selectedMic() { return this._selectedMic; }
  get selectedCam() { return {}; }
  get selectedSpeaker() { return this._selectedSpeaker; }

  enableMic(enable) {
    this._micEnabled = enable;
    if (this._track) this._track.enabled = enable;
  }

  enableCam() {}
  enableScreenShare() {}
  get isCamEnabled() { return false; }
  get isMicEnabled() { return this._micEnabled; }
  get isSharingScreen() { return false; }

  tracks() {
    return { local: { audio: this._track, video: undefined, screenAudio: undefined, screenVideo: undefined } };
  }

  // Used only by websocket transports that stream raw audio.
  userStartedSpeaking() {}
  bufferBotAudio() {}
}
