// The u2live page: plain JavaScript over the same /v1 API any client uses (no build step, no framework).
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 300;
let imageFile = null;
let job = null;  // {id, timer}
const urls = {};  // object URLs by slot, revoked when replaced

function keyHeaders() {
  const key = $("key").value.trim();
  localStorage.setItem("u2live-key", key);
  return key ? {"X-API-Key": key} : {};
}

async function errorText(answer) {
  try { return (await answer.json()).error || answer.statusText; } catch { return answer.statusText; }
}

function setUrl(slot, blob) {
  if (urls[slot]) URL.revokeObjectURL(urls[slot]);
  urls[slot] = URL.createObjectURL(blob);
  return urls[slot];
}

function status(id, text, isError = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", isError);
}

function dropZone(zone, input, onFile) {
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) onFile(e.dataTransfer.files[0]);
  });
  input.addEventListener("change", () => { if (input.files.length) onFile(input.files[0]); });
}

// ------------------------------------------------------------------------------------------------------ images

function chosenFormat() { return document.querySelector("input[name=format]:checked").value; }

function pickImage(file) {
  imageFile = file;
  const original = $("original");
  original.src = setUrl("original", file);
  original.hidden = false;
  $("pair").hidden = false;
  segment();
}

async function segment() {
  if (!imageFile) return;
  const format = chosenFormat();
  status("image-status", `segmenting (${format})…`);
  $("image-download").hidden = true;
  const answer = await fetch(`/v1/segment?format=${format}`, {method: "POST", body: imageFile,
    headers: {"Content-Type": imageFile.type || "application/octet-stream", ...keyHeaders()}});
  if (!answer.ok) { status("image-status", await errorText(answer), true); return; }
  const blob = await answer.blob();
  const stem = imageFile.name.replace(/\.[^.]*$/, "") || "image";
  if (format === "box") await showBox(JSON.parse(await blob.text()));
  else showResult(blob);
  const link = $("image-download");
  link.href = setUrl("download", blob);
  link.download = `${stem}-${format}.${format === "box" ? "json" : "png"}`;
  link.hidden = false;
  $("result-caption").textContent = format;
  status("image-status", "done");
}

function showResult(blob) {
  $("box-canvas").hidden = true;
  const result = $("result");
  result.onload = () => { result.dataset.loaded = "1"; };
  result.dataset.loaded = "";
  result.src = setUrl("result", blob);
  result.hidden = false;
}

async function showBox(answer) {
  // the original with the box (and each region's) drawn over it, at the image's own size
  const picture = await createImageBitmap(imageFile);
  const canvas = $("box-canvas");
  canvas.width = picture.width;
  canvas.height = picture.height;
  const g = canvas.getContext("2d");
  g.drawImage(picture, 0, 0);
  g.lineWidth = Math.max(2, picture.width / 200);
  g.strokeStyle = "#ffd600";  // each region in the outline colour of the highlight, the whole box in its box colour
  for (const region of answer.regions || []) g.strokeRect(...rect(region.box));
  g.strokeStyle = "#00c8ff";
  if (answer.box) g.strokeRect(...rect(answer.box));
  $("result").hidden = true;
  canvas.hidden = false;
  canvas.dataset.box = JSON.stringify(answer.box);
}

function rect([x0, y0, x1, y1]) { return [x0, y0, x1 - x0, y1 - y0]; }

// ------------------------------------------------------------------------------------------------------ videos

function videoBackground() {
  const kind = $("video-bg").value;
  if (kind !== "color") return kind;
  const hex = $("video-color").value.slice(1);
  return `color:${[0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(",")}`;
}

async function pickVideo(file) {
  await cancelJob();
  const video = $("video");
  video.hidden = true;
  video.removeAttribute("src");
  $("video-download").hidden = true;
  const progress = $("video-progress");
  progress.value = 0;
  progress.removeAttribute("max");  // indeterminate while uploading
  progress.hidden = false;
  status("video-status", "uploading…");
  const answer = await fetch(`/v1/videos?bg=${encodeURIComponent(videoBackground())}`, {method: "POST",
    body: file, headers: {"Content-Type": file.type || "application/octet-stream", ...keyHeaders()}});
  if (!answer.ok) { progress.hidden = true; status("video-status", await errorText(answer), true); return; }
  const created = await answer.json();
  job = {id: created.id, name: file.name.replace(/\.[^.]*$/, "") || "video"};
  $("video-cancel").hidden = false;
  poll(job);
}

async function poll(current) {
  if (job !== current) return;
  const answer = await fetch(`/v1/videos/${current.id}`, {headers: keyHeaders()});
  if (!answer.ok) { status("video-status", await errorText(answer), true); return; }
  const state = await answer.json();
  const progress = $("video-progress");
  if (state.frames_total) { progress.max = state.frames_total; progress.value = state.frames_done; }
  if (state.state === "done") return finished(current, state);
  if (state.state === "failed" || state.state === "cancelled") {
    $("video-cancel").hidden = true;
    status("video-status", `${state.state}: ${state.error || ""}`, true);
    return;
  }
  const fps = state.fps ? `, ${state.fps} FPS` : "";
  const eta = state.eta_seconds != null ? `, ${Math.ceil(state.eta_seconds)} s left` : "";
  status("video-status", `${state.state}: ${state.frames_done} / ${state.frames_total ?? "?"} frames${fps}${eta}`);
  current.timer = setTimeout(() => poll(current), POLL_MS);
}

async function finished(current, state) {
  $("video-cancel").hidden = true;
  const progress = $("video-progress");
  progress.max = state.frames_total || 1;
  progress.value = progress.max;
  status("video-status", `done: ${state.frames_done} frames at ${state.fps} FPS`);
  const headers = keyHeaders();
  const video = $("video");
  let src = state.result;  // streamed with range requests, so the player can seek
  if (headers["X-API-Key"]) src = setUrl("video", await (await fetch(state.result, {headers})).blob());
  video.src = src;
  video.hidden = false;
  const link = $("video-download");
  link.href = src;
  link.download = `${current.name}-u2live${state.result.endsWith(".webm") ? ".webm" : ".mp4"}`;
  link.hidden = false;
}

async function cancelJob() {
  if (!job) return;
  const current = job;
  job = null;
  clearTimeout(current.timer);
  $("video-cancel").hidden = true;
  await fetch(`/v1/videos/${current.id}`, {method: "DELETE", headers: keyHeaders()});
  status("video-status", "cancelled");
  $("video-progress").hidden = true;
}

// ----------------------------------------------------------------------------------------------------- start-up

async function showModel() {
  try {
    const answer = await fetch("/ready");
    const body = await answer.json();
    $("model").textContent = answer.ok ? `model: ${body.model}` : `${body.error}…`;
    if (!answer.ok) setTimeout(showModel, 1000);
  } catch { $("model").textContent = "the server does not answer"; }
}

$("key").value = localStorage.getItem("u2live-key") || "";
dropZone($("image-drop"), $("image-file"), pickImage);
dropZone($("video-drop"), $("video-file"), pickVideo);
document.querySelectorAll("input[name=format]").forEach((radio) => radio.addEventListener("change", segment));
$("video-cancel").addEventListener("click", cancelJob);
$("video-bg").addEventListener("change", () => { $("video-color").hidden = $("video-bg").value !== "color"; });
showModel();
